"""Attack: crash the interpreter with a segmentation fault (ctypes reads a kernel address) in step()."""

import ctypes


class Environment:
    def set_state(self, state):
        self.state = state

    def step(self, action):
        ctypes.string_at(0xFFFF800000001000, 16)  # kernel space: always faults
        return [0.0, 0.0, 0.0, 0.0], 0.0, False
