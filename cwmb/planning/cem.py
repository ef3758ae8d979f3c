"""The paper's cross-entropy-method (CEM) planner for continuous actions.

From the model's current state: sample N action sequences of horizon T from a Gaussian (initial
mean: the middle of the action box; initial standard deviation: half the largest absolute bound),
clip them to the box, score each by the sum of its rewards (up to the first `done`), refit mean and
standard deviation to the K best, and repeat I times. The best sequence of the last iteration is
the plan; it is executed open-loop, then the planner plans again. The horizon never exceeds the
episode limit. Sequences are evaluated in parallel on all cores (see forkpool); the plan depends on
the random generator only, never on the number of processes.

Presets live in cwmb.planning.presets (`paper`: T=100, I=20, N=1000, K=100)."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from cwmb.planning.base import Model
from cwmb.planning.forkpool import ForkEvaluator
from cwmb.planning.presets import CEMConfig

if TYPE_CHECKING:  # not at run time: the planner also runs in a program's sandbox
    from cwmb.registry import EnvSpec

PROCESSES_VARIABLE = "CWMB_PLANNER_PROCESSES"


def default_processes() -> int:
    """All cores this process may use, unless $CWMB_PLANNER_PROCESSES says otherwise."""
    value = os.environ.get(PROCESSES_VARIABLE)
    if value:
        return max(1, int(value))
    return len(os.sched_getaffinity(0))


class CEMPlanner:
    def __init__(
        self,
        low: Any,
        high: Any,
        config: CEMConfig,
        episode_limit: int | None = None,
        dtype: str = "float32",
        processes: int | None = None,
    ):
        self.low = np.asarray(low, dtype=np.float64)
        self.high = np.asarray(high, dtype=np.float64)
        if config.elites < 1 or config.elites > config.samples or config.iterations < 1:
            raise ValueError(f"inconsistent CEM settings: {config}")
        self.config = config
        self.horizon = max(1, min(config.horizon, episode_limit or config.horizon))
        self.dtype = np.dtype(dtype)
        self.processes = default_processes() if processes is None else max(1, processes)
        self._evaluators: dict[int, ForkEvaluator] = {}  # per model (id) while it is in use

    def plan(self, model: Model, rng: np.random.Generator) -> np.ndarray:
        """The best action sequence (horizon x action size, in the action dtype) from the model's
        current state; the model is left in that state."""
        cfg = self.config
        shape = (self.horizon, *self.low.shape)
        mean = np.broadcast_to((self.low + self.high) / 2.0, shape).copy()
        std = np.full(shape, max(np.max(np.abs(self.low)), np.max(np.abs(self.high))) / 2.0)
        start = model.snapshot()
        evaluator = self._evaluator(model)
        best = mean.astype(self.dtype)
        try:
            for _ in range(cfg.iterations):
                noise = rng.standard_normal((cfg.samples, *shape))
                sequences = np.clip(mean + std * noise, self.low, self.high).astype(self.dtype)
                returns = evaluator.evaluate(start, sequences)
                # Stable ordering: ties keep sampling order, so a seed fixes the plan.
                order = np.argsort(-returns, kind="stable")
                elites = sequences[order[: cfg.elites]].astype(np.float64)
                mean, std = elites.mean(axis=0), elites.std(axis=0)
                best = sequences[order[0]]
        finally:
            model.restore(start)
        return best.copy()

    def act(self, model: Model, rng: np.random.Generator) -> np.ndarray:
        """The first action of a fresh plan (for callers that re-plan at every step)."""
        return self.plan(model, rng)[0]

    def close(self) -> None:
        for evaluator in self._evaluators.values():
            evaluator.close()
        self._evaluators.clear()

    def _evaluator(self, model: Model) -> ForkEvaluator:
        # Forked workers hold copies of the model, so each model gets its own pool.
        evaluator = self._evaluators.get(id(model))
        if evaluator is None or evaluator.model is not model:
            self.close()
            evaluator = ForkEvaluator(model, self.processes)
            self._evaluators[id(model)] = evaluator
        return evaluator


def build_cem_planner(request: dict[str, Any], action_format: dict[str, Any]) -> CEMPlanner:
    """The planner a request names ({"name": "cem", "config", "episode_limit"[, "processes"]})."""
    return CEMPlanner(
        action_format["low"],
        action_format["high"],
        CEMConfig(**request["config"]),
        episode_limit=request.get("episode_limit"),
        dtype=action_format.get("dtype", "float32"),
        processes=request.get("processes"),
    )


class OpenLoopPolicy:
    """Executes each plan to its end without looking at observations, then plans again.

    One instance per episode (a plan does not carry over to the next episode)."""

    def __init__(self, planner: CEMPlanner, make_model: Callable[[Any, np.random.Generator], Any]):
        self.planner = planner
        self.make_model = make_model
        self.model: Any = None
        self.queue: list[np.ndarray] = []

    def act(self, obs: Any, env: Any, rng: np.random.Generator) -> Any:
        if not self.queue:
            if self.model is None:
                self.model = self.make_model(env, rng)
            self.model.sync(env)
            self.queue = list(self.planner.plan(self.model, rng))
        return self.queue.pop(0)


def oracle_model(spec: EnvSpec, env: Any, rng: np.random.Generator) -> Any:
    """A private copy of the true environment that restores its full simulator state exactly."""
    from cwmb.planning.simulator_model import SimulatorModel
    from cwmb.true_env import make_env

    return SimulatorModel(make_env(spec))


def demonstration_policy(spec: EnvSpec, config: CEMConfig) -> tuple[str, Callable[[], Any]]:
    """A dataset trajectory: one CEM planner on the true environment, its plans run open-loop."""
    horizon = min(config.horizon, spec.max_episode_steps)
    name = f"cem[T={horizon},I={config.iterations},N={config.samples},K={config.elites}]"

    def factory() -> OpenLoopPolicy:
        planner = CEMPlanner(
            spec.action.low, spec.action.high, config, spec.max_episode_steps, spec.action.dtype
        )
        return OpenLoopPolicy(planner, lambda env, rng: oracle_model(spec, env, rng))

    return name, factory
