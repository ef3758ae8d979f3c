"""Attack: read the detailed descriptions (equations, constants) shipped in the installed cwmb
package, which a standard-tier run must not hand out. Reports what it got: next state =
[description files found, bytes read from them, 0, 0]."""

import pathlib

import cwmb

FOUND = READ = 0
for path in pathlib.Path(cwmb.__file__).parent.glob("envs/*/description*.md"):
    FOUND += 1
    try:
        READ += len(path.read_bytes())
    except OSError:
        pass


class Environment:
    def set_state(self, state):
        self.state = state

    def step(self, action):
        return [float(FOUND), float(READ), 0.0, 0.0], 0.0, False
