"""Scoring mask of Walker2d-v4.

The observation clips joint velocities to [-10, 10]. When a true velocity lies beyond that bound
before the step, the observation does not tell how fast the joint moves, so nothing of the
transition is scored. The canonical replay (see mujoco_masks) applies as everywhere."""

from typing import Any

from cwmb.envs.mujoco_masks import ALL, NONE, MujocoScoringMask, Scored, velocities_within

VELOCITY_CLIP = 10.0


class ScoringMask(MujocoScoringMask):
    hidden = 1  # unobserved leading qpos coordinates

    def determined(self, env: Any, obs: Any, action: Any) -> Scored:
        return ALL if velocities_within(env, VELOCITY_CLIP) else NONE
