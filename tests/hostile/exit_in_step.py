"""Attack: sys.exit(0) in the middle of an evaluation, hoping a clean exit status reads as success."""

import sys


class Environment:
    def set_state(self, state):
        self.state = state

    def step(self, action):
        sys.exit(0)
