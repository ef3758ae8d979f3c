"""Reference code world model for Hopper-v4 (drives MuJoCo with Gymnasium's hopper.xml)."""

import numpy as np

from cwmb.envs.mujoco_common import PositionVelocityWorld, squared_norm

FORWARD_WEIGHT = 1.0
CONTROL_WEIGHT = 1e-3
HEALTHY_REWARD = 1.0
STATE_BOUND = 100.0  # every coordinate except x and z, and every velocity, strictly inside +-100
MIN_HEIGHT = 0.7
ANGLE_BOUND = 0.2


class Environment(PositionVelocityWorld):
    model_file = "hopper.xml"
    frame_skip = 4
    hidden = 1  # forward position x (rebuilt as 0; the floor is the same everywhere)
    velocity_clip = 10.0

    def step(self, action):
        control = np.asarray(action, dtype=np.float64).ravel()
        data = self.sim.data
        x_before = float(data.qpos[0])
        self.sim.advance(control)
        x_velocity = (float(data.qpos[0]) - x_before) / self.sim.dt
        reward = (
            FORWARD_WEIGHT * x_velocity + HEALTHY_REWARD - CONTROL_WEIGHT * squared_norm(control)
        )
        height, tilt = float(data.qpos[1]), float(data.qpos[2])
        rest = np.concatenate([data.qpos[2:], data.qvel])
        healthy = (
            bool(np.all(np.abs(rest) < STATE_BOUND))
            and height > MIN_HEIGHT
            and -ANGLE_BOUND < tilt < ANGLE_BOUND
        )
        return self.observe(), reward, not healthy
