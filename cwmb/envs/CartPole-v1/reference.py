"""Reference code world model for CartPole-v1."""

import math

import numpy as np

GRAVITY = 9.8
CART_MASS = 1.0
POLE_MASS = 0.1
TOTAL_MASS = CART_MASS + POLE_MASS
HALF_LENGTH = 0.5  # distance from the pivot to the pole's centre of mass
POLE_MOMENT = POLE_MASS * HALF_LENGTH
FORCE = 10.0
DT = 0.02
X_LIMIT = 2.4
THETA_LIMIT = 12 * 2 * math.pi / 360  # 12 degrees in radians


class Environment:
    def __init__(self) -> None:
        self.state = (0.0, 0.0, 0.0, 0.0)

    def set_state(self, state) -> None:
        # The observation is float32; the simulation itself runs in double precision.
        x, x_dot, theta, theta_dot = (
            float(v) for v in np.asarray(state, dtype=np.float64).reshape(4)
        )
        self.state = (x, x_dot, theta, theta_dot)

    def step(self, action):
        x, x_dot, theta, theta_dot = self.state
        force = FORCE if int(action) == 1 else -FORCE
        cos_t = math.cos(theta)
        sin_t = math.sin(theta)
        common = (force + POLE_MOMENT * theta_dot**2 * sin_t) / TOTAL_MASS
        theta_acc = (GRAVITY * sin_t - cos_t * common) / (
            HALF_LENGTH * (4.0 / 3.0 - POLE_MASS * cos_t**2 / TOTAL_MASS)
        )
        x_acc = common - POLE_MOMENT * theta_acc * cos_t / TOTAL_MASS
        # Explicit Euler: positions advance with the velocities from before the update.
        x, x_dot = x + DT * x_dot, x_dot + DT * x_acc
        theta, theta_dot = theta + DT * theta_dot, theta_dot + DT * theta_acc
        self.state = (x, x_dot, theta, theta_dot)
        done = x < -X_LIMIT or x > X_LIMIT or theta < -THETA_LIMIT or theta > THETA_LIMIT
        return np.array(self.state, dtype=np.float32), 1.0, bool(done)
