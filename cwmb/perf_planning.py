"""Planner and scoring throughput on the discrete environments (in-process, no sandbox):
MCTS simulated steps per second with the true environment and with the reference program, and
scoring throughput in transitions per second through the process sandbox."""

from __future__ import annotations

import time

import numpy as np

from cwmb import registry
from cwmb.evaluation import score_program
from cwmb.planning.episodes import OraclePolicy, run_episodes
from cwmb.planning.presets import get_preset
from cwmb.sandbox.process import ProcessExecutor

ENVS = ["CliffWalking-v1", "Taxi-v4", "CartPole-v1", "MountainCar-v0", "Acrobot-v1"]


def scoring_throughput() -> dict[str, float]:
    results = {}
    executor = ProcessExecutor()
    for env_id in ENVS:
        spec = registry.get(env_id)
        start = time.perf_counter()
        scores = score_program(spec, spec.reference_source(), ["train", "heldout"], executor)
        seconds = time.perf_counter() - start
        count = sum(s.n_transitions for s in scores.values())
        results[env_id] = count / seconds
        print(
            f"scoring {env_id:<16} {count:>6} transitions in {seconds:.2f} s = {count / seconds:,.0f} transitions/s"
        )
    return results


def oracle_step_time(preset_name: str) -> dict[str, float]:
    results = {}
    preset = get_preset(preset_name)
    for env_id in ENVS:
        spec = registry.get(env_id)
        result = run_episodes(spec, OraclePolicy(spec, preset), "oracle", preset, episodes=1)
        per_step = result.seconds[0] / result.lengths[0]
        results[env_id] = per_step
        print(
            f"oracle [{preset_name}] {env_id:<16} {per_step * 1000:7.1f} ms per real step "
            f"({result.lengths[0]} steps, {result.seconds[0]:.1f} s)"
        )
    return results


def run() -> dict:
    np.seterr(all="ignore")
    return {
        "scoring_transitions_per_s": scoring_throughput(),
        "oracle_seconds_per_step_default": oracle_step_time("default"),
    }
