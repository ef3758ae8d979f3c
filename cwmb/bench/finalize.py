"""After a job: the host scores its program on both splits and plans with it, in a fresh sandbox
that holds only the program. The host sends states and actions and compares the answers itself;
the true environment never leaves the host."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cwmb.dataset import load_split
from cwmb.errors import CwmbError
from cwmb.evaluation import open_program, predict
from cwmb.planning.episodes import ProgramPolicy, run_episodes, spec_normalized_return
from cwmb.planning.presets import Preset
from cwmb.registry import EnvSpec
from cwmb.sandbox.base import Executor, SandboxError
from cwmb.scoring import failed, score

SPLITS = ("train", "heldout")


@dataclass
class Finalized:
    splits: dict[str, dict[str, Any]]
    planning: dict[str, Any] | None
    scoring_s: float
    planning_s: float
    error: str | None = None
    loaded: bool = True  # False: there was no program, or it did not load in the sandbox


def finalize(
    spec: EnvSpec,
    program: str,
    executor: Executor,
    preset: Preset,
    episodes: int | None,
    progress: Callable[[str], None] | None = None,
    planning_limit_s: float | None = None,
    on_episode: Callable[[int, int], None] | None = None,
) -> Finalized:
    """Score `program` on both splits, then plan with it. `progress` hears the phase,
    `on_episode(done, total)` each finished planning episode."""
    datasets = {split: load_split(spec, split) for split in SPLITS}
    start = time.perf_counter()
    if not program.strip():
        splits = {
            s: failed(d, "the method returned no program").to_dict() for s, d in datasets.items()
        }
        return Finalized(splits, None, 0.0, 0.0, "the method returned no program", loaded=False)
    try:
        session = open_program(executor, spec, program)
    except SandboxError as exc:
        splits = {s: failed(d, str(exc)).to_dict() for s, d in datasets.items()}
        return Finalized(splits, None, time.perf_counter() - start, 0.0, str(exc), loaded=False)
    with session:
        try:
            splits = {s: score(spec, d, predict(session, d)).to_dict() for s, d in datasets.items()}
        except SandboxError as exc:
            splits = {s: failed(d, str(exc)).to_dict() for s, d in datasets.items()}
            return Finalized(splits, None, time.perf_counter() - start, 0.0, str(exc))
        scoring_s = time.perf_counter() - start
        if progress:
            progress("planning")
        start = time.perf_counter()
        planning = plan_with(spec, session, preset, episodes, planning_limit_s, on_episode)
    return Finalized(splits, planning, scoring_s, time.perf_counter() - start)


def _episode_counter(
    preset: Preset, episodes: int | None, on_episode: Callable[[int, int], None]
) -> Callable[[int, float], None]:
    total = preset.episodes if episodes is None else episodes
    return lambda done, _episode_return: on_episode(done, total)


def plan_with(
    spec: EnvSpec,
    session: Any,
    preset: Preset,
    episodes: int | None,
    limit_s: float | None = None,
    on_episode: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Planning episodes with the program; a program that breaks the planner gets no return."""
    random = spec.baseline(preset.name, "random")
    oracle = spec.baseline(preset.name, "oracle")
    base = {"preset": preset.name, "random": random, "oracle": oracle}
    try:
        results = run_episodes(
            spec,
            ProgramPolicy(spec, preset, session),
            "cwm",
            preset,
            episodes,
            progress=None if on_episode is None else _episode_counter(preset, episodes, on_episode),
            time_limit_s=limit_s,
        )
    except (SandboxError, CwmbError) as exc:
        return {
            **base,
            "episodes": 0,
            "returns": [],
            "mean": None,
            "std": None,
            "normalized_return": None,
            "error": str(exc)[-2000:],
        }
    return {
        **base,
        "episodes": len(results.returns),
        "returns": results.returns,
        "mean": results.mean,
        "std": results.std,
        "normalized_return": spec_normalized_return(spec, preset.name, results.mean),
        "error": None,
    }
