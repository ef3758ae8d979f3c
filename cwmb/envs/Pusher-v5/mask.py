"""Scoring mask of Pusher-v5.

The observation gives the object's and the goal's positions but not their velocities. Once the arm
has pushed the object it keeps sliding (its joints are damped, so its speed decays by about half
per step but never reaches exactly zero). The next state and the reward of a step depend on that
hidden velocity, so they are scored only while object and goal are at rest: every object/goal
joint speed at most 1e-6 m/s before the step (moving less than 1e-7 m during the step and the
stale substep the observation reports, far inside the tolerance) and the cached body positions the
observation reports equal to the current ones. `done` is always False and always scored. The
canonical replay (see mujoco_masks) applies too."""

from typing import Any

import numpy as np

from cwmb.envs.mujoco_masks import ALL, MujocoScoringMask, Scored, cached_positions_current

ARM_JOINTS = 7
REST_SPEED = 1e-6  # m/s


class ScoringMask(MujocoScoringMask):
    def determined(self, env: Any, obs: Any, action: Any) -> Scored:
        resting = bool(np.all(np.abs(env.data.qvel[ARM_JOINTS:]) <= REST_SPEED))
        bodies = [env.model.body("object").id, env.model.body("goal").id]
        if resting and cached_positions_current(env, "xpos", bodies):
            return ALL
        return (False, False, True)
