"""Scoring mask of Ant-v4.

The forward-progress term of the reward is the change of the torso position the simulator cached
during its last internal evaluation, which trails the state the observation reports (the x and y
coordinates are not observed at all). Right after a reset the cached position is the current one
and the reward is determined; on later steps it depends on where the torso was one integration
stage earlier, so the reward is not scored (next state and done are). The canonical replay (see
mujoco_masks) applies too."""

from typing import Any

from cwmb.envs.mujoco_masks import ALL, MujocoScoringMask, Scored, cached_positions_current


class ScoringMask(MujocoScoringMask):
    hidden = 2  # unobserved leading qpos coordinates

    def determined(self, env: Any, obs: Any, action: Any) -> Scored:
        torso = [env.model.body("torso").id]
        if cached_positions_current(env, "xpos", torso):
            return ALL
        return (True, False, True)
