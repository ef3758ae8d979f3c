"""Reference code world model for Humanoid-v4 (drives MuJoCo with Gymnasium's humanoid.xml)."""

import numpy as np

from cwmb.envs.mujoco_common import HumanoidWorld

FORWARD_WEIGHT = 1.25
CONTROL_WEIGHT = 0.1
HEALTHY_REWARD = 5.0
HEIGHT_RANGE = (1.0, 2.0)


class Environment(HumanoidWorld):
    def __init__(self) -> None:
        super().__init__()
        masses = self.sim.model.body_mass
        self.mass_fraction = masses / masses.sum()

    def centre_of_mass_x(self) -> float:
        # From the simulator's cached body centres, as the environment does (right after set_state
        # they match the observed state; see the scoring mask).
        return float(self.mass_fraction @ self.sim.data.xipos[:, 0])

    def step(self, action):
        control = np.asarray(action, dtype=np.float64).ravel()
        x_before = self.centre_of_mass_x()
        self.sim.advance(control)
        x_velocity = (self.centre_of_mass_x() - x_before) / self.sim.dt
        reward = FORWARD_WEIGHT * x_velocity + HEALTHY_REWARD - self.control_cost(CONTROL_WEIGHT)
        height = float(self.sim.data.qpos[2])
        done = not (HEIGHT_RANGE[0] < height < HEIGHT_RANGE[1])
        return self.observe(), reward, done
