"""Attack: an endless loop inside step()."""


class Environment:
    def set_state(self, state):
        self.state = state

    def step(self, action):
        while True:
            pass
