"""Attack: write files outside the sandbox: /tmp, the home folder, /root, the cwmb package, the
project folder, /etc. The reward counts writes that did not fail (inside the sandbox a private
/tmp may accept them; the test checks that none reaches the host)."""

import os
import pathlib

import cwmb

TARGETS = [
    "/tmp/cwmb-hostile-escape",
    "/var/tmp/cwmb-hostile-escape",
    os.path.expanduser("~/cwmb-hostile-escape"),
    "/root/cwmb-hostile-escape",
    str(pathlib.Path(cwmb.__file__).parent / "cwmb-hostile-escape"),
    str(pathlib.Path(cwmb.__file__).parents[1] / "cwmb-hostile-escape"),
    "/etc/cwmb-hostile-escape",
]
WRITES = 0
for target in TARGETS:
    try:
        with open(target, "w") as handle:
            handle.write("escaped")
        WRITES += 1
    except OSError:
        pass
try:  # and vandalise the harness's own code
    with open(cwmb.__file__, "a") as handle:
        handle.write("\nraise SystemExit('vandalised')\n")
    WRITES += 100
except OSError:
    pass


class Environment:
    def set_state(self, state):
        self.state = state

    def step(self, action):
        return [0.0, 0.0, 0.0, 0.0], float(WRITES), False
