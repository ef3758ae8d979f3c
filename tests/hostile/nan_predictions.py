"""Attack: NaN everywhere (NaN never equals anything, but a sloppy comparison might let it pass)."""

import math


class Environment:
    def set_state(self, state):
        self.state = state

    def step(self, action):
        return [math.nan, math.inf, -math.inf, math.nan], math.nan, math.nan
