"""Reference code world model for Swimmer-v4 (drives MuJoCo with Gymnasium's swimmer.xml)."""

import numpy as np

from cwmb.envs.mujoco_common import PositionVelocityWorld, squared_norm

FORWARD_WEIGHT = 1.0
CONTROL_WEIGHT = 1e-4


class Environment(PositionVelocityWorld):
    model_file = "swimmer.xml"
    frame_skip = 4
    hidden = 2  # x and y of the front tip (rebuilt as 0; the fluid is the same everywhere)

    def step(self, action):
        control = np.asarray(action, dtype=np.float64).ravel()
        x_before = float(self.sim.data.qpos[0])
        self.sim.advance(control)
        x_velocity = (float(self.sim.data.qpos[0]) - x_before) / self.sim.dt
        reward = FORWARD_WEIGHT * x_velocity - CONTROL_WEIGHT * squared_norm(control)
        return self.observe(), reward, False
