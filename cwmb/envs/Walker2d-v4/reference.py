"""Reference code world model for Walker2d-v4 (drives MuJoCo with Gymnasium's walker2d.xml)."""

import numpy as np

from cwmb.envs.mujoco_common import PositionVelocityWorld, squared_norm

FORWARD_WEIGHT = 1.0
CONTROL_WEIGHT = 1e-3
HEALTHY_REWARD = 1.0
HEIGHT_RANGE = (0.8, 2.0)
ANGLE_RANGE = (-1.0, 1.0)


class Environment(PositionVelocityWorld):
    model_file = "walker2d.xml"
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
        healthy = (
            HEIGHT_RANGE[0] < height < HEIGHT_RANGE[1] and ANGLE_RANGE[0] < tilt < ANGLE_RANGE[1]
        )
        return self.observe(), reward, not healthy
