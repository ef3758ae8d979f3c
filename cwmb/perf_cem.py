"""CEM throughput: environment steps per second while planning, with 1 and with 2 processes,
measured side by side (alternating rounds, best of each) on the true environments and on a
reference program. The plans must be identical whatever the number of processes."""

from __future__ import annotations

import importlib.util
import os
import time
from typing import Any

import numpy as np

from cwmb import registry
from cwmb.planning.base import ProgramModel
from cwmb.planning.cem import CEMPlanner, oracle_model
from cwmb.planning.presets import CEMConfig
from cwmb.true_env import make_env

CONFIG = CEMConfig(horizon=20, iterations=2, samples=200, elites=20)
ORACLE_ENVS = ["Pendulum-v1", "HalfCheetah-v4", "Hopper-v4", "Humanoid-v4"]
PROGRAM_ENVS = ["HalfCheetah-v4"]
ROUNDS = 2
PROCESS_COUNTS = (1, 2)


def _models(env_id: str, program: bool) -> tuple[Any, Any]:
    spec = registry.get(env_id)
    env = make_env(spec)
    obs, _ = env.reset(seed=0)
    if program:
        # The reference is trusted project code: run it in this process (no sandbox).
        module_spec = importlib.util.spec_from_file_location("perf_reference", spec.reference_path)
        assert module_spec is not None and module_spec.loader is not None
        module = importlib.util.module_from_spec(module_spec)
        module_spec.loader.exec_module(module)
        state = np.asarray(obs, dtype=spec.observation.dtype)
        return spec, ProgramModel(module.Environment(), state)
    model = oracle_model(spec, env, np.random.default_rng(0))
    model.sync(env)
    return spec, model


def _measure(spec: Any, model: Any) -> dict[str, float]:
    best = dict.fromkeys(PROCESS_COUNTS, 0.0)
    plans: dict[int, np.ndarray] = {}
    planners = {
        p: CEMPlanner(spec.action.low, spec.action.high, CONFIG, processes=p)
        for p in PROCESS_COUNTS
    }
    steps = CONFIG.horizon * CONFIG.iterations * CONFIG.samples
    try:
        for _ in range(ROUNDS):
            for p, planner in planners.items():
                start = time.perf_counter()
                plans[p] = planner.plan(model, np.random.default_rng(0))
                best[p] = max(best[p], steps / (time.perf_counter() - start))
    finally:
        for planner in planners.values():
            planner.close()
    if not all(np.array_equal(plans[p], plans[PROCESS_COUNTS[0]]) for p in PROCESS_COUNTS):
        raise AssertionError(f"{spec.id}: plans differ between process counts")
    return {f"{p}_process": v for p, v in best.items()}


def run() -> dict[str, Any]:
    np.seterr(all="ignore")
    print(
        f"CEM T={CONFIG.horizon} I={CONFIG.iterations} N={CONFIG.samples}: env steps/s "
        f"(best of {ROUNDS} alternating rounds)"
    )
    # Other work on the machine caps what a second process can add; say how busy it was.
    print(f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    print(f"{'model':<28}{'1 process':>12}{'2 processes':>14}{'ratio':>8}")
    results: dict[str, Any] = {}
    cases = [(e, False) for e in ORACLE_ENVS] + [(e, True) for e in PROGRAM_ENVS]
    for env_id, program in cases:
        label = f"{env_id} ({'reference' if program else 'true env'})"
        spec, model = _models(env_id, program)
        speeds = _measure(spec, model)
        ratio = speeds["2_process"] / speeds["1_process"]
        speeds["ratio"] = ratio
        results[label] = speeds
        print(
            f"{label:<28}{speeds['1_process']:>12,.0f}{speeds['2_process']:>14,.0f}{ratio:>8.2f}",
            flush=True,
        )
    results["load_average_after"] = os.getloadavg()[0]
    print(f"load average after: {results['load_average_after']:.2f}")
    return results


if __name__ == "__main__":
    run()
