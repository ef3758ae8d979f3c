"""Attack: payloads that act when unpickled. Every answer is an object (or pickle bytes) whose
__reduce__ writes a marker file; if the harness ever unpickled it, the marker would appear on
the host."""

import os
import pickle


class Payload:
    def __reduce__(self):
        return (os.system, ("touch /tmp/cwmb-hostile-unpickled",))


BYTES = pickle.dumps(Payload())


class Environment:
    def set_state(self, state):
        self.state = state

    def step(self, action):
        if int(action) == 0:
            return Payload(), Payload(), Payload()
        return BYTES, BYTES, BYTES
