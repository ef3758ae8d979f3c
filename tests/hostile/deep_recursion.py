"""Attack: lift the recursion limit and recurse without end (stack or memory exhaustion)."""

import sys

sys.setrecursionlimit(10**8)


def dive(depth):
    return dive(depth + 1) + 1


class Environment:
    def set_state(self, state):
        self.state = state

    def step(self, action):
        return [0.0, 0.0, 0.0, dive(0)], 0.0, False
