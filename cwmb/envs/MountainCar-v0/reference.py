"""Reference code world model for MountainCar-v0."""

import math

import numpy as np

MIN_POSITION = -1.2
MAX_POSITION = 0.6
MAX_SPEED = 0.07
GOAL_POSITION = 0.5
GOAL_VELOCITY = 0.0
ENGINE = 0.001  # velocity change per step from the engine (action 0 = -1, 1 = 0, 2 = +1)
GRAVITY = 0.0025  # scales the slope term cos(3 * position)


class Environment:
    def __init__(self) -> None:
        self.position = -0.5
        self.velocity = 0.0

    def set_state(self, state) -> None:
        values = np.asarray(state, dtype=np.float64).reshape(2)
        self.position, self.velocity = float(values[0]), float(values[1])

    def step(self, action):
        velocity = (
            self.velocity + (int(action) - 1) * ENGINE - GRAVITY * math.cos(3 * self.position)
        )
        velocity = min(max(velocity, -MAX_SPEED), MAX_SPEED)
        position = min(max(self.position + velocity, MIN_POSITION), MAX_POSITION)
        if position == MIN_POSITION and velocity < 0:
            velocity = 0.0  # the car stops dead against the left end of the track
        self.position, self.velocity = position, velocity
        done = position >= GOAL_POSITION and velocity >= GOAL_VELOCITY
        return np.array([position, velocity], dtype=np.float32), -1.0, bool(done)
