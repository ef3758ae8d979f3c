"""Evaluation episodes on the real environment, driven by the host.

A policy decides each action from the real observation: at random, by planning on the true
environment (the oracle), or by asking a sandboxed program session to plan (a code world model).
The environment itself always stays on the trusted side."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

import numpy as np

from cwmb.errors import CwmbError
from cwmb.formats import to_plain
from cwmb.planning.presets import Preset
from cwmb.registry import EnvSpec
from cwmb.sandbox.base import Session
from cwmb.true_env import make_env, oracle_model

EVAL_SEED = 10_000  # evaluation episodes use seeds EVAL_SEED + i, never used by the datasets


def planner_seed(rng: np.random.Generator) -> int:
    """The seed of one planning call, drawn from the episode's generator.

    Common random numbers: the oracle and a program's planner both draw exactly one seed per
    planning call, in the same order, from a generator seeded with the episode's seed, and plan
    with `numpy.random.default_rng(seed)` (the oracle here, a program's planner in its sandbox).
    A program that reproduces the true environment therefore plans exactly like the oracle."""
    return int(rng.integers(2**31))


def model_seed(seed: int) -> np.random.Generator:
    """The oracle model's own generator (e.g. Blackjack's cards), apart from the planner's."""
    return np.random.default_rng([seed, 1])


class PlanningTimeout(CwmbError):
    """Planning with a program did not finish within its wall-clock allowance."""


class Policy(Protocol):
    def act(self, obs: Any, env: Any, rng: np.random.Generator) -> Any: ...


class RandomPolicy:
    def __init__(self, spec: EnvSpec):
        self.spec = spec

    def act(self, obs: Any, env: Any, rng: np.random.Generator) -> Any:
        return random_action(self.spec, rng)


def random_action(spec: EnvSpec, rng: np.random.Generator) -> Any:
    fmt = spec.action
    if fmt.type == "discrete":
        assert fmt.n is not None
        return int(rng.integers(fmt.n))
    low = np.asarray(fmt.low, dtype=np.float64)
    high = np.asarray(fmt.high, dtype=np.float64)
    return rng.uniform(low, high).astype(fmt.dtype)


def planner_request(spec: EnvSpec, preset: Preset) -> dict[str, Any]:
    """The planner a program is evaluated with, as sent to the sandbox."""
    config = preset.mcts if spec.planner == "mcts" else preset.cem
    return {"name": spec.planner, "config": asdict(config), "episode_limit": spec.max_episode_steps}


def build_planner(spec: EnvSpec, preset: Preset) -> Any:
    from cwmb.planning.runtime import PLANNER_BUILDERS

    request = planner_request(spec, preset)
    return PLANNER_BUILDERS[spec.planner](request, spec.action.to_dict())


class OraclePolicy:
    """The preset's planner with the true environment as its model.

    A planner with a `plan` method (CEM) returns an action sequence that is executed open-loop to
    its end before the next plan; `reset` drops what is left of it when an episode starts."""

    def __init__(self, spec: EnvSpec, preset: Preset):
        self.spec = spec
        self.planner = build_planner(spec, preset)
        self.model: Any = None
        self.queue: list[Any] = []

    def reset(self) -> None:
        self.queue = []

    def act(self, obs: Any, env: Any, rng: np.random.Generator) -> Any:
        if not self.queue:
            seed = planner_seed(rng)
            if self.model is None:
                self.model = oracle_model(self.spec, env, model_seed(seed))
            self.model.sync(env)
            plan_rng = np.random.default_rng(seed)
            open_loop = getattr(self.planner, "plan", None)
            if open_loop is not None:
                self.queue = list(open_loop(self.model, plan_rng))
            else:
                return self.planner.act(self.model, plan_rng)
        return self.queue.pop(0)


class ProgramPolicy:
    """The preset's planner running inside the sandbox with the program as its model (open-loop
    sequences from CEM are executed to their end, as for the oracle)."""

    def __init__(self, spec: EnvSpec, preset: Preset, session: Session):
        self.spec = spec
        self.session = session
        self.request = planner_request(spec, preset)
        self.queue: list[Any] = []

    def reset(self) -> None:
        self.queue = []

    def act(self, obs: Any, env: Any, rng: np.random.Generator) -> Any:
        if self.queue:
            return self.queue.pop(0)
        answer = self.session.plan(to_plain(obs), self.request, planner_seed(rng))
        if self.spec.planner != "cem":
            return checked_action(self.spec, answer)
        if not isinstance(answer, list) or not answer:
            raise CwmbError(
                f"the sandboxed planner returned no action sequence: {str(answer)[:80]}"
            )
        self.queue = [checked_action(self.spec, action) for action in answer]
        return self.queue.pop(0)


def checked_action(spec: EnvSpec, action: Any) -> Any:
    """An action that came back from the sandbox, validated before it touches the real env."""
    fmt = spec.action
    if fmt.type == "discrete":
        if (
            isinstance(action, bool)
            or not isinstance(action, int)
            or not 0 <= action < (fmt.n or 0)
        ):
            raise CwmbError(f"the sandboxed planner returned an invalid action: {str(action)[:80]}")
        return action
    try:
        array = np.asarray(action, dtype=np.float64).reshape(fmt.shape)
    except (TypeError, ValueError):
        raise CwmbError(
            f"the sandboxed planner returned an invalid action: {str(action)[:80]}"
        ) from None
    if not np.all(np.isfinite(array)):
        raise CwmbError("the sandboxed planner returned a non-finite action")
    return np.clip(array, fmt.low, fmt.high).astype(fmt.dtype)


@dataclass
class EpisodeResults:
    policy: str
    preset: str
    returns: list[float]
    lengths: list[int]
    seconds: list[float]
    seeds: list[int] = field(default_factory=list)

    @property
    def mean(self) -> float:
        return float(np.mean(self.returns))

    @property
    def std(self) -> float:
        return float(np.std(self.returns))

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.update(mean=self.mean, std=self.std)
        return data


def run_episodes(
    spec: EnvSpec,
    policy: Policy,
    policy_name: str,
    preset: Preset,
    episodes: int | None = None,
    progress: Callable[[int, float], None] | None = None,
    time_limit_s: float | None = None,
) -> EpisodeResults:
    """Play `episodes` evaluation episodes (seeds EVAL_SEED + i) with `policy`. Past
    `time_limit_s` of wall time it stops with `PlanningTimeout` (a program too slow to plan with)."""
    count = preset.episodes if episodes is None else episodes
    deadline = None if time_limit_s is None else time.monotonic() + time_limit_s
    env = make_env(spec)
    results = EpisodeResults(policy_name, preset.name, [], [], [])
    try:
        for i in range(count):
            seed = EVAL_SEED + i
            rng = np.random.default_rng(seed)
            if hasattr(policy, "reset"):
                policy.reset()
            obs, _ = env.reset(seed=seed)
            total, steps, start = 0.0, 0, time.perf_counter()
            while True:
                obs, reward, terminated, truncated, _ = env.step(policy.act(obs, env, rng))
                total += float(reward)
                steps += 1
                if terminated or truncated:
                    break
                if deadline is not None and time.monotonic() > deadline:
                    raise PlanningTimeout(
                        f"planning with the program took longer than {time_limit_s:.0f} s "
                        f"(episode {i + 1} of {count})"
                    )
            results.returns.append(total)
            results.lengths.append(steps)
            results.seconds.append(time.perf_counter() - start)
            results.seeds.append(seed)
            if progress:
                progress(i + 1, total)
    finally:
        env.close()
    return results


# R is undefined when the oracle's lead over random is within this many standard errors of that
# lead (sqrt(se_random^2 + se_oracle^2), from the stored episodes): the normalizer would be noise.
NOISE_STANDARD_ERRORS = 2.0


def normalized_return(
    value: float, random: float | None, oracle: float | None, noise: float = 0.0
) -> float | None:
    """(R - R_random) / (R_oracle - R_random); None when undefined (never 0 by convention): a
    baseline is missing, or R_oracle - R_random is not larger than `noise`."""
    if random is None or oracle is None:
        return None
    denominator = oracle - random
    if denominator <= max(noise, 1e-9 * max(1.0, abs(oracle), abs(random))):
        return None
    return (value - random) / denominator


def normalizer_noise(spec: EnvSpec, preset: str) -> float:
    """NOISE_STANDARD_ERRORS standard errors of R_oracle - R_random at `preset`."""
    se_random = spec.baseline_standard_error(preset, "random")
    se_oracle = spec.baseline_standard_error(preset, "oracle")
    return NOISE_STANDARD_ERRORS * float(np.hypot(se_random, se_oracle))


def spec_normalized_return(spec: EnvSpec, preset: str, value: float) -> float | None:
    """The normalized return of `value` against `spec`'s stored baselines at `preset`."""
    return normalized_return(
        value,
        spec.baseline(preset, "random"),
        spec.baseline(preset, "oracle"),
        normalizer_noise(spec, preset),
    )
