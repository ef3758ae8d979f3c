"""Reference code world model for HalfCheetah-v4 (drives MuJoCo with Gymnasium's half_cheetah.xml)."""

import numpy as np

from cwmb.envs.mujoco_common import PositionVelocityWorld, squared_norm

FORWARD_WEIGHT = 1.0
CONTROL_WEIGHT = 0.1


class Environment(PositionVelocityWorld):
    model_file = "half_cheetah.xml"
    frame_skip = 5
    hidden = 1  # forward position x (rebuilt as 0; the floor is the same everywhere)

    def step(self, action):
        control = np.asarray(action, dtype=np.float64).ravel()
        x_before = float(self.sim.data.qpos[0])
        self.sim.advance(control)
        x_velocity = (float(self.sim.data.qpos[0]) - x_before) / self.sim.dt
        reward = FORWARD_WEIGHT * x_velocity - CONTROL_WEIGHT * squared_norm(control)
        return self.observe(), reward, False
