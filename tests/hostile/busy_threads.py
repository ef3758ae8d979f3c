"""Attack: eight threads spinning forever from load time; the answers are honest (zeros)."""

import threading


def spin():
    while True:
        pass


for _ in range(8):
    threading.Thread(target=spin, daemon=True).start()


class Environment:
    def set_state(self, state):
        self.state = state

    def step(self, action):
        return [0.0, 0.0, 0.0, 0.0], 0.0, False
