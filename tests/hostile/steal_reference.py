"""Attack: find the benchmark's own reference program inside the installed cwmb package and run
it, to score perfectly without modelling anything. If the reference is unreadable the program
falls back to zeros."""

import pathlib

import cwmb

SOURCE = ""
for path in pathlib.Path(cwmb.__file__).parent.glob("envs/*/reference.py"):
    try:
        SOURCE += path.read_text()
    except OSError:
        pass
STOLEN = {}
if "class Environment" in SOURCE:
    for path in pathlib.Path(cwmb.__file__).parent.glob("envs/CartPole-v1/reference.py"):
        exec(path.read_text(), STOLEN)


class Environment:
    def __init__(self):
        self.inner = STOLEN["Environment"]() if "Environment" in STOLEN else None

    def set_state(self, state):
        self.state = state
        if self.inner:
            self.inner.set_state(state)

    def step(self, action):
        if self.inner:
            return self.inner.step(action)
        return [0.0, 0.0, 0.0, 0.0], 0.0, False
