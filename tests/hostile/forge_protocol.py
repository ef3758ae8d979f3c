"""Attack: write forged answers straight onto the protocol channel (found through /proc/self/fd):
a fake perfect answer and garbage, then answer normally."""

import json
import os


def protocol_fds():
    found = []
    for name in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{name}")
        except OSError:
            continue
        if target.startswith("pipe:") and int(name) > 2:
            found.append(int(name))
    return found


class Environment:
    def set_state(self, state):
        self.state = state

    def step(self, action):
        fake = {"ok": True, "predictions": [{"next_state": [0.0] * 4, "reward": 1.0, "done": False, "error": None}]}
        for fd in protocol_fds():
            try:
                os.write(fd, (json.dumps(fake) + "\n").encode())
                os.write(fd, b"\x00garbage{{{\n")
            except OSError:
                pass
        return [0.0, 0.0, 0.0, 0.0], 0.0, False
