"""Attack: an ndarray subclass whose comparisons are always all-True and whose tolist() lies.
Its real content is zeros."""

import numpy as np


class LyingArray(np.ndarray):
    def __eq__(self, other):
        return np.ones(np.shape(other), dtype=bool)

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        return np.ones(np.broadcast_shapes(*(np.shape(x) for x in inputs)), dtype=bool)

    def tolist(self):
        return [123.0, 456.0, 789.0, 0.5]

    def __iter__(self):
        return iter([123.0, 456.0, 789.0, 0.5])


class Environment:
    def set_state(self, state):
        self.state = state

    def step(self, action):
        return np.zeros(4).view(LyingArray), np.float64(0.0), np.bool_(False)
