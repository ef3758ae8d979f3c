"""Attack: import the simulators under names put together at run time (importlib and
__import__), as a filter on the program's text would never see them. The last import is left
uncaught, so the program fails at load unless something got through."""

import importlib

GOT = []
for name in ("gym" + "nasium", "mu" + "joco", "cwmb." + "true_env", "cwmb.envs.mujoco_" + "common"):
    try:
        GOT.append(importlib.import_module(name))
    except ImportError:
        pass
if not GOT:
    MUJOCO = __import__("".join(["mu", "jo", "co"]))


class Environment:
    def set_state(self, state):
        self.state = state

    def step(self, action):
        return [0.0, 0.0, 0.0, 0.0], float(len(GOT)), False
