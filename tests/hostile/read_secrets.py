"""Attack: look for API keys: the environment, every /proc/*/environ, the parent's command line,
well-known key files. The reward is the number of places where an OpenAI-style key showed up."""

import glob
import os

FOUND = 0
if any("API_KEY" in name or value.startswith("sk-") for name, value in os.environ.items()):
    FOUND += 1
for path in glob.glob("/proc/*/environ") + glob.glob("/proc/*/cmdline"):
    try:
        with open(path, "rb") as handle:
            data = handle.read()
        if b"OPENAI_API_KEY" in data or b"sk-cwmb" in data:
            FOUND += 1
    except OSError:
        pass
for pattern in ("~/.env", "~/.config/openai/*", "/root/.env", "/work/*/.env", "/proc/1/environ"):
    for path in glob.glob(os.path.expanduser(pattern)):
        try:
            with open(path, "rb") as handle:
                if b"sk-cwmb" in handle.read():
                    FOUND += 1
        except OSError:
            pass
VARIABLES = float(len(os.environ))


class Environment:
    def set_state(self, state):
        self.state = state

    def step(self, action):
        # next state: [keys found, number of variables it can see, 0, 0]
        return [float(FOUND), VARIABLES, 0.0, 0.0], 0.0, False
