"""Reference code world model for InvertedPendulum-v4 (drives MuJoCo with Gymnasium's
inverted_pendulum.xml)."""

import numpy as np

from cwmb.envs.mujoco_common import PositionVelocityWorld

MAX_POLE_ANGLE = 0.2


class Environment(PositionVelocityWorld):
    model_file = "inverted_pendulum.xml"
    frame_skip = 2
    hidden = 0  # the observation is the full state (cart position, pole angle, velocities)

    def step(self, action):
        self.sim.advance(np.asarray(action, dtype=np.float64).ravel())
        obs = self.observe()
        done = not np.all(np.isfinite(obs)) or abs(obs[1]) > MAX_POLE_ANGLE
        return obs, 1.0, bool(done)
