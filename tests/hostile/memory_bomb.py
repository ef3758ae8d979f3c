"""Attack: allocate 16 GiB in one go on every step."""

import numpy as np


class Environment:
    def set_state(self, state):
        self.state = state

    def step(self, action):
        ballast = np.ones(2 * 1024**3, dtype=np.float64)  # 16 GiB
        return ballast[:4], 0.0, False
