"""Scoring mask of Humanoid-v4.

The forward-progress term of the reward is the change of the centre of mass computed from body
centres the simulator cached during its last internal evaluation, which trail the state the
observation reports (x and y are not observed at all). Right after a reset the cached centres are
the current ones and the reward is determined; on later steps it is not scored (next state and
done are). The canonical replay (see mujoco_masks) applies too; it matters here because the
model uses the PGS solver with a fixed 50 iterations."""

from typing import Any

from cwmb.envs.mujoco_masks import ALL, MujocoScoringMask, Scored, cached_positions_current


class ScoringMask(MujocoScoringMask):
    hidden = 2  # unobserved leading qpos coordinates

    def determined(self, env: Any, obs: Any, action: Any) -> Scored:
        if cached_positions_current(env, "xipos", slice(None)):
            return ALL
        return (True, False, True)
