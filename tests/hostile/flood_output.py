"""Attack: flood stdout and stderr (1 MB each per step, 100 MB in all) while answering honestly (zeros)."""

import sys

LINE = "spam " * 2000 + "\n"


class Environment:
    def set_state(self, state):
        self.state = state

    def step(self, action):
        for _ in range(100):
            sys.stdout.write(LINE)
            sys.stderr.write(LINE)
        sys.stdout.flush()
        return [0.0, 0.0, 0.0, 0.0], 0.0, False
