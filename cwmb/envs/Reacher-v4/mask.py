"""Scoring mask of Reacher-v4.

- The target's velocity is not observed. It starts at zero and nothing pushes the target (it has
  no actuator and collides with nothing), so it stays at rest; the check keeps that honest.
- The elbow angle is observed only through its sine and cosine. Its range is [-3, 3] rad, so the
  angle is recovered uniquely while it stays inside (-pi, pi); strong torques can push it through
  the soft limit beyond +-pi, where the observation no longer tells which side it is on. Such
  transitions are not scored (rare).
- The canonical replay (see mujoco_masks) applies too."""

import math
from typing import Any

import numpy as np

from cwmb.envs.mujoco_masks import ALL, NONE, MujocoScoringMask, Scored

ELBOW = 1
TARGET_VELOCITY = slice(2, 4)


class ScoringMask(MujocoScoringMask):
    def determined(self, env: Any, obs: Any, action: Any) -> Scored:
        target_resting = not np.any(env.data.qvel[TARGET_VELOCITY])
        elbow_unambiguous = abs(float(env.data.qpos[ELBOW])) < math.pi
        return ALL if target_resting and elbow_unambiguous else NONE
