"""Attack: return objects that claim to equal anything (__eq__ always True, isclose-friendly
__sub__/__abs__), hoping the comparison happens on them. Their plain value is zero."""


class Liar:
    def __eq__(self, other):
        return True

    def __ne__(self, other):
        return False

    def __sub__(self, other):
        return 0.0

    __rsub__ = __sub__

    def __abs__(self):
        return 0.0

    def __float__(self):
        return 0.0

    def __bool__(self):
        return True

    __hash__ = object.__hash__


class Environment:
    def set_state(self, state):
        self.state = state

    def step(self, action):
        return [Liar(), Liar(), Liar(), Liar()], Liar(), Liar()
