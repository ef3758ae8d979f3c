"""The CEM planner: a tiny problem with a known optimum, determinism under a seed (whatever the
number of processes), the pickle-free process pool, open-loop execution, and the oracle's exact
simulator snapshots."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from cwmb import registry
from cwmb.planning.cem import CEMPlanner, OpenLoopPolicy, build_cem_planner, oracle_model
from cwmb.planning.forkpool import ForkEvaluator, evaluate_serial
from cwmb.planning.presets import CEMConfig
from cwmb.true_env import make_env


class Track:
    """1-D point: x' = x + a, a in [-1, 1]; reward -(x' - goal)^2; done once |x'| > limit.

    From x = 0 with goal 2.5 the best 6-step sequence is a = (1, 1, 0.5, 0, 0, 0): return
    -(1.5^2 + 0.5^2) = -2.5."""

    def __init__(self, goal: float = 2.5, limit: float = 100.0):
        self.x = np.zeros(1)
        self.goal = goal
        self.limit = limit
        self.steps = 0

    def snapshot(self) -> np.ndarray:
        return self.x.copy()

    def restore(self, snapshot: Any) -> None:
        self.x = np.array(snapshot, dtype=np.float64)

    def step(self, action: Any) -> tuple[Any, float, bool]:
        self.steps += 1
        self.x = self.x + float(np.asarray(action).ravel()[0])
        return (
            self.x.copy(),
            -float((self.x[0] - self.goal) ** 2),
            bool(abs(self.x[0]) > self.limit),
        )


def planner(processes: int, **config: int) -> CEMPlanner:
    settings = {"horizon": 6, "iterations": 10, "samples": 200, "elites": 20, **config}
    return CEMPlanner([-1.0], [1.0], CEMConfig(**settings), processes=processes)


def test_finds_the_known_optimum() -> None:
    model = Track()
    plan = planner(1).plan(model, np.random.default_rng(0))
    assert plan.shape == (6, 1) and plan.dtype == np.float32
    np.testing.assert_allclose(plan[:, 0], [1, 1, 0.5, 0, 0, 0], atol=0.05)
    ret = sum(model.step(a)[1] for a in plan)
    assert ret == pytest.approx(-2.5, abs=0.05)


def test_model_is_left_in_its_start_state() -> None:
    model = Track()
    model.x[:] = 0.7
    planner(1, iterations=2, samples=20, elites=4).plan(model, np.random.default_rng(0))
    assert model.x[0] == 0.7


def test_stops_summing_at_done() -> None:
    # Crossing |x| > 1.5 ends the episode: the planner must stop there, not learn to run past.
    model = Track(goal=-10.0, limit=1.5)
    returns = np.empty(1)
    evaluate_serial(model, np.zeros(1), np.ones((1, 6, 1)), returns)
    assert returns[0] == pytest.approx(-(11.0**2) - (12.0**2))


def test_deterministic_under_a_seed_for_any_number_of_processes() -> None:
    plans = [planner(p).plan(Track(), np.random.default_rng(42)) for p in (1, 2, 3, 1)]
    for plan in plans[1:]:
        np.testing.assert_array_equal(plan, plans[0])
    other = planner(1).plan(Track(), np.random.default_rng(43))
    assert not np.array_equal(other, plans[0])


def test_process_pool_matches_serial_and_really_forks() -> None:
    sequences = np.random.default_rng(1).uniform(-1, 1, size=(50, 6, 1)).astype(np.float32)
    serial = np.empty(50)
    evaluate_serial(Track(), np.zeros(1), sequences, serial)
    model = Track()
    evaluator = ForkEvaluator(model, processes=2)
    try:
        parallel = evaluator.evaluate(np.zeros(1), sequences)
        assert evaluator._pool is not None and len(evaluator._pool._workers) == 1
    finally:
        evaluator.close()
    np.testing.assert_array_equal(parallel, serial)
    # This process evaluated only its own share (25 sequences of 6 steps); the worker the rest.
    assert model.steps == 25 * 6


def test_horizon_is_capped_at_the_episode_limit() -> None:
    request = {
        "name": "cem",
        "config": {"horizon": 100, "iterations": 1, "samples": 4, "elites": 2},
        "episode_limit": 7,
    }
    fmt = {"low": [-2.0], "high": [2.0], "dtype": "float32"}
    chosen = build_cem_planner(request, fmt)
    assert chosen.horizon == 7
    assert chosen.plan(Track(), np.random.default_rng(0)).shape == (7, 1)


def test_initial_distribution_uses_the_box() -> None:
    # One iteration, one elite: the plan is one sample of N(middle, max|bound|/2), clipped.
    chosen = CEMPlanner([0.0, -4.0], [1.0, 0.0], CEMConfig(50, 1, 1, 1), processes=1)
    rng = np.random.default_rng(5)
    plan = chosen.plan(Track(), rng)
    expected = np.clip(
        np.array([0.5, -2.0]) + 2.0 * np.random.default_rng(5).standard_normal((1, 50, 2))[0],
        [0.0, -4.0],
        [1.0, 0.0],
    ).astype(np.float32)
    np.testing.assert_array_equal(plan, expected)


def test_open_loop_policy_executes_the_whole_plan_before_replanning() -> None:
    calls = []

    class Counting(CEMPlanner):
        def plan(self, model: Any, rng: np.random.Generator) -> np.ndarray:
            calls.append(1)
            return super().plan(model, rng)

    class SyncedTrack(Track):
        def sync(self, env: Any) -> None:
            self.x[:] = env.x

    world = Track()
    policy = OpenLoopPolicy(
        Counting([-1.0], [1.0], CEMConfig(4, 2, 20, 4), processes=1),
        lambda env, rng: SyncedTrack(),
    )
    rng = np.random.default_rng(0)
    for _ in range(9):
        world.step(policy.act(world.x, world, rng))
    assert len(calls) == 3  # steps 0, 4 and 8


MUJOCO_ENVS = registry.CONTINUOUS_ENVS[1:]  # all but Pendulum


@pytest.mark.parametrize("env_id", ["Pendulum-v1", *MUJOCO_ENVS])
def test_oracle_model_reproduces_the_true_step_exactly(env_id: str) -> None:
    """Synced to the real environment mid-episode, the oracle's copy takes bit-identical steps
    (this needs the cached body positions too: Ant's and Humanoid's rewards read them)."""
    spec = registry.get(env_id)
    env = make_env(spec)
    env.reset(seed=123)
    env.action_space.seed(123)
    model = oracle_model(spec, env, np.random.default_rng(0))
    for _ in range(25):
        action = env.action_space.sample()
        model.sync(env)
        start = model.snapshot()
        model.step(env.action_space.sample())  # wander off, then come back
        model.restore(start)
        obs, reward, done = model.step(action)
        true_obs, true_reward, terminated, truncated, _ = env.step(action)
        assert np.array_equal(obs, true_obs) and reward == true_reward and done == terminated
        if terminated or truncated:
            env.reset(seed=7)
    env.close()


def test_oracle_planning_beats_random_on_pendulum() -> None:
    spec = registry.get("Pendulum-v1")
    env = make_env(spec)
    config = CEMConfig(horizon=15, iterations=3, samples=60, elites=6)
    chosen = CEMPlanner(spec.action.low, spec.action.high, config, spec.max_episode_steps)
    policy = OpenLoopPolicy(chosen, lambda e, r: oracle_model(spec, e, r))
    rng = np.random.default_rng(0)
    returns = {}
    for name in ("random", "cem"):
        obs, _ = env.reset(seed=3)
        total = 0.0
        for _ in range(60):
            if name == "random":
                action = rng.uniform(-2, 2, size=1).astype(np.float32)
            else:
                action = policy.act(obs, env, rng)
            obs, reward, *_ = env.step(action)
            total += float(reward)
        returns[name] = total
    assert returns["cem"] > returns["random"] + 50, returns
