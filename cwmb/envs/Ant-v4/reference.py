"""Reference code world model for Ant-v4 (drives MuJoCo with Gymnasium's ant.xml)."""

import numpy as np

from cwmb.envs.mujoco_common import PositionVelocityWorld, squared_norm

CONTROL_WEIGHT = 0.5
HEALTHY_REWARD = 1.0
HEIGHT_RANGE = (0.2, 1.0)


class Environment(PositionVelocityWorld):
    model_file = "ant.xml"
    frame_skip = 5
    hidden = 2  # torso x and y (rebuilt as 0; the floor is the same everywhere)

    def __init__(self) -> None:
        super().__init__()
        self.torso = self.sim.body_id("torso")

    def step(self, action):
        control = np.asarray(action, dtype=np.float64).ravel()
        data = self.sim.data
        # Like the environment, progress is measured with the simulator's cached torso position
        # (right after set_state it is the observed one; see the scoring mask).
        x_before = float(data.xpos[self.torso][0])
        self.sim.advance(control)
        x_velocity = (float(data.xpos[self.torso][0]) - x_before) / self.sim.dt
        reward = x_velocity + HEALTHY_REWARD - CONTROL_WEIGHT * squared_norm(control)
        state = np.concatenate([data.qpos, data.qvel])
        healthy = bool(np.all(np.isfinite(state))) and (
            HEIGHT_RANGE[0] <= data.qpos[2] <= HEIGHT_RANGE[1]
        )
        return self.observe(), reward, not healthy
