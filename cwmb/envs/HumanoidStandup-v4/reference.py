"""Reference code world model for HumanoidStandup-v4 (drives MuJoCo with Gymnasium's
humanoidstandup.xml)."""

import numpy as np

from cwmb.envs.mujoco_common import HumanoidWorld, squared_norm

CONTROL_WEIGHT = 0.1
IMPACT_WEIGHT = 0.5e-6
IMPACT_CAP = 10.0
ALIVE_BONUS = 1.0


class Environment(HumanoidWorld):
    model_file = "humanoidstandup.xml"

    def step(self, action):
        self.sim.advance(np.asarray(action, dtype=np.float64).ravel())
        data = self.sim.data
        # Height reward: torso height divided by the physics time step (not the environment step).
        height_reward = float(data.qpos[2]) / float(self.sim.model.opt.timestep)
        impact = min(IMPACT_WEIGHT * squared_norm(data.cfrc_ext), IMPACT_CAP)
        reward = height_reward - self.control_cost(CONTROL_WEIGHT) - impact + ALIVE_BONUS
        return self.observe(), reward, False
