"""The real environment, on the trusted side: construction, value conversion, and the oracle model.

Only the host imports Gymnasium. The oracle plans on a private copy of the environment whose state
it saves and restores; the copy's random generator is reseeded so the planner cannot peek at the
real episode's future randomness (e.g. Blackjack's next cards)."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

from cwmb.registry import EnvSpec, SpaceFormat

_PLAIN = (int, float, bool, str, tuple, list, type(None), np.ndarray, np.generic)


def make_env(spec: EnvSpec) -> Any:
    import gymnasium as gym

    return gym.make(
        spec.gym_id,
        max_episode_steps=spec.max_episode_steps,
        disable_env_checker=True,
        **spec.gym_kwargs,
    )


def to_storage(value: Any, fmt: SpaceFormat) -> np.ndarray:
    """An environment value as the dataset stores it."""
    return np.asarray(value, dtype=fmt.dtype).reshape(fmt.shape)


class TrueEnvModel:
    """The oracle's model: a copy of the unwrapped environment with snapshot/restore of its state.

    The state is every attribute holding plain data (numbers, tuples, small arrays). That covers the
    toy-text and classic-control environments; simulators with their own state (MuJoCo) provide
    their own model."""

    def __init__(self, env: Any, rng: np.random.Generator):
        self.sim = copy.deepcopy(env.unwrapped)
        self.sim.np_random = np.random.default_rng(int(rng.integers(2**63)))

    def sync(self, env: Any) -> None:
        """Copy the real environment's current state into the private copy."""
        self._set(self._state_of(env.unwrapped))

    @staticmethod
    def _state_of(env: Any) -> dict[str, Any]:
        return {
            k: copy.deepcopy(v)
            for k, v in vars(env).items()
            if isinstance(v, _PLAIN) and not (isinstance(v, np.ndarray) and v.size > 64)
        }

    def _set(self, state: dict[str, Any]) -> None:
        for key, value in state.items():
            setattr(self.sim, key, copy.deepcopy(value))

    def snapshot(self) -> Any:
        return self._state_of(self.sim)

    def restore(self, snapshot: Any) -> None:
        self._set(snapshot)

    def step(self, action: Any) -> tuple[Any, float, bool]:
        obs, reward, terminated, _, _ = self.sim.step(action)
        return obs, float(reward), bool(terminated)


def oracle_model(spec: EnvSpec, env: Any, rng: np.random.Generator) -> Any:
    """The model the oracle plans with: an exact, restorable copy of the real environment."""
    if spec.planner == "cem":
        from cwmb.planning.cem import oracle_model as simulator_model

        return simulator_model(spec, env, rng)
    return TrueEnvModel(env, rng)
