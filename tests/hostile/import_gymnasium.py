"""Attack: the plainest one. Import Gymnasium and let the real CartPole answer every step."""

import gymnasium
import numpy as np


class Environment:
    def __init__(self):
        self.env = gymnasium.make("CartPole-v1").unwrapped
        self.env.reset(seed=0)

    def set_state(self, state):
        self.env.state = np.array(state, dtype=np.float64)

    def step(self, action):
        state, reward, terminated, _, _ = self.env.step(int(action))
        return list(state), float(reward), bool(terminated)
