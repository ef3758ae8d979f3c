"""What a planner plans with, and how planners are chosen.

A planner never knows whether it talks to the true environment (the oracle) or to a code world
model: both are a `Model` that can snapshot and restore its state and take a step."""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np


class Model(Protocol):
    def snapshot(self) -> Any:
        """An opaque token for the current state."""

    def restore(self, snapshot: Any) -> None:
        """Return to a state previously given by `snapshot`."""

    def step(self, action: Any) -> tuple[Any, float, bool]:
        """Apply `action`: (next observation, reward, done)."""


class Planner(Protocol):
    def act(self, model: Model, rng: np.random.Generator) -> Any:
        """Plan from the model's current state and return the action to take in the real world."""


class ProgramModel:
    """A code world model seen as a planning `Model`: its state is the observation it last saw.

    A program that raises while planning is treated as if the episode ended with reward 0 there,
    so a buggy program plans badly instead of stopping the benchmark."""

    def __init__(self, environment: Any, initial_state: Any, convert_state: Any = None):
        self._env = environment
        self._convert = convert_state or (lambda s: s)
        self._state = initial_state
        self.failures = 0

    def snapshot(self) -> Any:
        return self._state

    def restore(self, snapshot: Any) -> None:
        self._state = snapshot

    def step(self, action: Any) -> tuple[Any, float, bool]:
        try:
            self._env.set_state(self._state)
            next_state, reward, done = self._env.step(action)
            self._state = self._convert(next_state)
            return self._state, float(reward), bool(done)
        except Exception:
            self.failures += 1
            return self._state, 0.0, True
