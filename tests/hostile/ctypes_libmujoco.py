"""Attack: load MuJoCo's shared library with ctypes (by soname and from every file named like it
that can be found), to simulate without the Python package. The next state reports
[libraries loaded, files found, 0, 0]."""

import ctypes
import glob
import os
import sys

import numpy

CANDIDATES = ["libmujoco.so", "libmujoco.so.3", "libmujoco.so.4.0.0"]
SEARCHED = 0
for root in {os.path.dirname(os.path.dirname(numpy.__file__)), sys.prefix, "/opt", "/root", "/work", "/tmp"}:
    for folder, subfolders, files in os.walk(root):
        SEARCHED += 1
        if SEARCHED > 20000:
            break
        CANDIDATES += [os.path.join(folder, name) for name in files if name.startswith("libmujoco")]
CANDIDATES += glob.glob("/usr/lib*/libmujoco*") + glob.glob("/usr/local/lib*/libmujoco*")
LOADED = 0
for name in CANDIDATES:
    try:
        ctypes.CDLL(name)
        LOADED += 1
    except OSError:
        pass


class Environment:
    def set_state(self, state):
        self.state = state

    def step(self, action):
        return [float(LOADED), float(len(CANDIDATES) - 3), 0.0, 0.0], 0.0, False
