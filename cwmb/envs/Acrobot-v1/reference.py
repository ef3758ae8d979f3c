"""Reference code world model for Acrobot-v1."""

import math

import numpy as np

DT = 0.2
LENGTH_1 = 1.0  # length of the first link (pivot to joint)
MASS_1 = 1.0
MASS_2 = 1.0
COM_1 = 0.5  # distance from each link's base to its centre of mass
COM_2 = 0.5
INERTIA = 1.0  # moment of inertia of either link
GRAVITY = 9.8
MAX_SPEED_1 = 4 * math.pi
MAX_SPEED_2 = 9 * math.pi
TORQUES = (-1.0, 0.0, 1.0)


def derivatives(state: tuple[float, float, float, float], torque: float) -> tuple[float, ...]:
    theta1, theta2, speed1, speed2 = state
    d1 = (
        MASS_1 * COM_1**2
        + MASS_2 * (LENGTH_1**2 + COM_2**2 + 2 * LENGTH_1 * COM_2 * math.cos(theta2))
        + 2 * INERTIA
    )
    d2 = MASS_2 * (COM_2**2 + LENGTH_1 * COM_2 * math.cos(theta2)) + INERTIA
    phi2 = MASS_2 * COM_2 * GRAVITY * math.cos(theta1 + theta2 - math.pi / 2)
    phi1 = (
        -MASS_2 * LENGTH_1 * COM_2 * speed2**2 * math.sin(theta2)
        - 2 * MASS_2 * LENGTH_1 * COM_2 * speed2 * speed1 * math.sin(theta2)
        + (MASS_1 * COM_1 + MASS_2 * LENGTH_1) * GRAVITY * math.cos(theta1 - math.pi / 2)
        + phi2
    )
    accel2 = (
        torque + d2 / d1 * phi1 - MASS_2 * LENGTH_1 * COM_2 * speed1**2 * math.sin(theta2) - phi2
    ) / (MASS_2 * COM_2**2 + INERTIA - d2**2 / d1)
    accel1 = -(d2 * accel2 + phi1) / d1
    return speed1, speed2, accel1, accel2


def runge_kutta(state: tuple[float, ...], torque: float) -> tuple[float, ...]:
    """One classical fourth-order Runge-Kutta step of length DT with a constant torque."""

    def shifted(slope: tuple[float, ...], scale: float) -> tuple[float, float, float, float]:
        a, b, c, d = (value + scale * rate for value, rate in zip(state, slope, strict=True))
        return a, b, c, d

    k1 = derivatives(state, torque)  # type: ignore[arg-type]
    k2 = derivatives(shifted(k1, DT / 2), torque)
    k3 = derivatives(shifted(k2, DT / 2), torque)
    k4 = derivatives(shifted(k3, DT), torque)
    return tuple(
        value + DT / 6.0 * (a + 2 * b + 2 * c + d)
        for value, a, b, c, d in zip(state, k1, k2, k3, k4, strict=True)
    )


def wrap_angle(angle: float) -> float:
    while angle > math.pi:
        angle -= 2 * math.pi
    while angle < -math.pi:
        angle += 2 * math.pi
    return angle


class Environment:
    def __init__(self) -> None:
        self.state: tuple[float, ...] = (0.0, 0.0, 0.0, 0.0)

    def set_state(self, state) -> None:
        cos1, sin1, cos2, sin2, speed1, speed2 = (
            float(v) for v in np.asarray(state, dtype=np.float64).reshape(6)
        )
        self.state = (math.atan2(sin1, cos1), math.atan2(sin2, cos2), speed1, speed2)

    def step(self, action):
        theta1, theta2, speed1, speed2 = runge_kutta(self.state, TORQUES[int(action)])
        theta1, theta2 = wrap_angle(theta1), wrap_angle(theta2)
        speed1 = min(max(speed1, -MAX_SPEED_1), MAX_SPEED_1)
        speed2 = min(max(speed2, -MAX_SPEED_2), MAX_SPEED_2)
        self.state = (theta1, theta2, speed1, speed2)
        # The tip of the second link is above the pivot by more than one link length.
        done = -math.cos(theta1) - math.cos(theta1 + theta2) > 1.0
        observation = np.array(
            [
                math.cos(theta1),
                math.sin(theta1),
                math.cos(theta2),
                math.sin(theta2),
                speed1,
                speed2,
            ],
            dtype=np.float32,
        )
        return observation, 0.0 if done else -1.0, bool(done)
