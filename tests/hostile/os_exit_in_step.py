"""Attack: os._exit(0) in the middle of an evaluation: the process vanishes with status 0."""

import os


class Environment:
    def set_state(self, state):
        self.state = state

    def step(self, action):
        os._exit(0)
