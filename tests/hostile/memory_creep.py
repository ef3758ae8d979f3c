"""Attack: grow memory a megabyte at a time until something gives."""

hoard = []


class Environment:
    def set_state(self, state):
        self.state = state

    def step(self, action):
        while True:
            hoard.append(bytearray(1024 * 1024))
