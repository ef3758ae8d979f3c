"""Reference code world model for Pendulum-v1 (standalone: stdlib + numpy)."""

import math

import numpy as np

GRAVITY = 10.0
MASS = 1.0
LENGTH = 1.0
DT = 0.05
MAX_SPEED = 8.0
MAX_TORQUE = 2.0


def wrap(theta: float) -> float:
    """Angle mapped into [-pi, pi)."""
    return (theta + math.pi) % (2 * math.pi) - math.pi


class Environment:
    def __init__(self) -> None:
        self.theta = 0.0
        self.theta_dot = 0.0

    def set_state(self, state) -> None:
        cos_t, sin_t, theta_dot = (float(v) for v in np.asarray(state, dtype=np.float64).ravel())
        self.theta = math.atan2(sin_t, cos_t)
        self.theta_dot = theta_dot

    def step(self, action):
        torque = min(
            max(float(np.asarray(action, dtype=np.float64).ravel()[0]), -MAX_TORQUE), MAX_TORQUE
        )
        theta, theta_dot = self.theta, self.theta_dot
        cost = wrap(theta) ** 2 + 0.1 * theta_dot**2 + 0.001 * torque**2
        # Semi-implicit Euler: the angle advances with the already updated (clipped) velocity.
        theta_acc = 3 * GRAVITY / (2 * LENGTH) * math.sin(theta) + 3.0 / (MASS * LENGTH**2) * torque
        theta_dot = min(max(theta_dot + theta_acc * DT, -MAX_SPEED), MAX_SPEED)
        theta = theta + theta_dot * DT
        self.theta, self.theta_dot = theta, theta_dot
        obs = np.array([math.cos(theta), math.sin(theta), theta_dot], dtype=np.float32)
        return obs, -cost, False
