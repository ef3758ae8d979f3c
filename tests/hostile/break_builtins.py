"""Attack: sabotage the worker itself: isinstance, json and len now lie, so whatever runs next
in this process (the worker's own conversion and encoding) misbehaves."""

import builtins
import json

builtins.isinstance = lambda *args: True
builtins.len = lambda *args: 1
json.dumps = lambda *args, **kwargs: '{"ok": true, "predictions": "all perfect"}'


class Environment:
    def set_state(self, state):
        self.state = state

    def step(self, action):
        return [0.0, 0.0, 0.0, 0.0], 0.0, False
