"""Attack: kill the parent, the process group, and every process the program may signal.
Then answer honestly (zeros)."""

import os
import signal

for attack in (
    lambda: os.kill(os.getppid(), signal.SIGKILL),
    lambda: os.killpg(os.getpgrp(), signal.SIGKILL),
    lambda: os.kill(-1, signal.SIGKILL),
    lambda: os.kill(1, signal.SIGKILL),
):
    try:
        attack()
    except (OSError, ValueError):
        pass


class Environment:
    def set_state(self, state):
        self.state = state

    def step(self, action):
        return [0.0, 0.0, 0.0, 0.0], 0.0, False
