"""Goal-reaching demonstrations for MountainCar, Acrobot and CliffWalking, used only to record data.

The authors' discrete datasets hold 5 random and 5 better-than-random episodes, and their
MountainCar and Acrobot episodes reach the goal. An MCTS oracle at an affordable setting never gets
there within the time limit (all 20 of our earlier demonstrations timed out), so these three use
small hand-written controllers instead. They know nothing a world model would not: each reads the
observation only. Each demonstration k takes a random action with probability EPSILONS[k] (drawn
from the episode's seeded generator), so the five differ and the data also holds off-policy moves
(on CliffWalking, falls into the cliff)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from cwmb.registry import EnvSpec

EPSILONS = (0.0, 0.05, 0.1, 0.15, 0.2)

CLIFF_COLUMNS = (
    12  # CliffWalking's grid is 4 rows x 12 columns; start bottom-left, goal bottom-right
)
UP, RIGHT, DOWN = 0, 1, 2  # CliffWalking's action numbers


def mountain_car(obs: Any) -> int:
    """Push in the direction the car moves (2 = right, 0 = left): the swing grows until it
    reaches the flag, in about 115-125 steps."""
    return 2 if float(obs[1]) >= 0.0 else 0


def acrobot(obs: Any) -> int:
    """Torque the elbow in the direction it turns (2 = +1, 0 = -1): this pumps energy into the
    swing, and the tip crosses the line in about 65-125 steps."""
    return 2 if float(obs[5]) > 0.0 else 0


def cliff_walking(obs: Any) -> int:
    """The safe path: up from the bottom row, right along the row above the cliff, then down
    into the goal."""
    row, column = divmod(int(obs), CLIFF_COLUMNS)
    if row == 3:
        return UP
    if row < 2:
        return DOWN
    return RIGHT if column < CLIFF_COLUMNS - 1 else DOWN


CONTROLLERS: dict[str, Callable[[Any], int]] = {
    "MountainCar-v0": mountain_car,
    "Acrobot-v1": acrobot,
    "CliffWalking-v1": cliff_walking,
}


class ControllerPolicy:
    def __init__(self, controller: Callable[[Any], int], actions: int, epsilon: float):
        self.controller, self.actions, self.epsilon = controller, actions, epsilon

    def act(self, obs: Any, env: Any, rng: np.random.Generator) -> int:
        if rng.random() < self.epsilon:
            return int(rng.integers(self.actions))
        return self.controller(obs)


def goal_demonstration(spec: EnvSpec, index: int) -> tuple[str, Callable[[], Any]] | None:
    """(name, policy factory) of demonstration `index`, or None where the planner records them."""
    controller = CONTROLLERS.get(spec.id)
    if controller is None:
        return None
    assert spec.action.n is not None
    epsilon = EPSILONS[index]
    name = f"controller[{controller.__name__},epsilon={epsilon}]"
    return name, lambda: ControllerPolicy(controller, spec.action.n or 0, epsilon)
