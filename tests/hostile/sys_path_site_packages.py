"""Attack: put every folder where packages could be installed back on sys.path (guessed from
numpy's location, the interpreter's prefixes and the usual system places), run `site` again,
then import Gymnasium."""

import glob
import importlib
import os
import site
import sys

import numpy

GUESSES = [os.path.dirname(os.path.dirname(numpy.__file__))]
for prefix in {sys.prefix, sys.base_prefix, "/usr", "/usr/local", "/opt/venv"}:
    GUESSES += glob.glob(os.path.join(prefix, "lib*/python3*/site-packages"))
    GUESSES += glob.glob(os.path.join(prefix, "lib*/python3*/dist-packages"))
GUESSES += glob.glob("/usr/lib/python3/dist-packages") + glob.glob("/work/*/.venv/lib/*/site-packages")
GUESSES += glob.glob("/work/wt/*/.venv/lib/*/site-packages") + glob.glob("/root/.cache/uv/archive-v0/*")
for path in GUESSES:
    site.addsitedir(path)
    sys.path.append(path)
site.main()
importlib.invalidate_caches()

import gymnasium  # noqa: E402


class Environment:
    def set_state(self, state):
        self.state = state

    def step(self, action):
        return [0.0, 0.0, 0.0, 0.0], 0.0, False
