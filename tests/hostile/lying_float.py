"""Attack: float and bool-like subclasses whose comparisons always succeed and whose repr
claims other values. Their real value is 0.0 (and done=False)."""


class LyingFloat(float):
    def __eq__(self, other):
        return True

    def __ne__(self, other):
        return False

    def __repr__(self):
        return "1e308"

    __str__ = __repr__
    __hash__ = float.__hash__


class LyingInt(int):
    def __eq__(self, other):
        return True

    __hash__ = int.__hash__


class Environment:
    def set_state(self, state):
        self.state = state

    def step(self, action):
        zero = LyingFloat(0.0)
        return [zero, zero, zero, zero], zero, LyingInt(0)
