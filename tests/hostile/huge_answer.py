"""Attack: answer with enormous states (25 000 numbers for each transition) to exhaust the
host's memory."""

import numpy as np


class Environment:
    def set_state(self, state):
        self.state = state

    def step(self, action):
        return np.full(25_000, 0.5), 0.0, False
