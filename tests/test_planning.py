"""MCTS and evaluation episodes: known optima, determinism, baselines that mean something."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from cwmb import registry
from cwmb.evaluation import program_formats
from cwmb.planning.base import ProgramModel
from cwmb.planning.episodes import (
    NOISE_STANDARD_ERRORS,
    OraclePolicy,
    ProgramPolicy,
    RandomPolicy,
    normalized_return,
    normalizer_noise,
    planner_request,
    run_episodes,
    spec_normalized_return,
)
from cwmb.planning.mcts import MCTSConfig, MCTSPlanner
from cwmb.planning.presets import get_preset
from cwmb.sandbox.process import ProcessExecutor


class Corridor:
    """Positions 0..4; action 1 moves right, 0 left; reaching 4 pays 10 and ends the episode."""

    def __init__(self, position: int = 0):
        self.position = position

    def snapshot(self):
        return self.position

    def restore(self, snapshot):
        self.position = snapshot

    def step(self, action):
        self.position = max(0, self.position + (1 if action == 1 else -1))
        done = self.position == 4
        return self.position, (10.0 if done else -1.0), done


def test_mcts_finds_the_goal_direction():
    planner = MCTSPlanner(2, MCTSConfig(simulations=50, rollout_depth=10))
    rng = np.random.default_rng(0)
    model = Corridor(2)
    assert [planner.act(model, rng) for _ in range(10)] == [1] * 10
    assert model.position == 2  # planning restores the state it started from


def test_mcts_is_deterministic_under_a_seed():
    planner = MCTSPlanner(2, MCTSConfig(simulations=8, rollout_depth=5, temperature=10.0))
    first = [planner.act(Corridor(1), np.random.default_rng(s)) for s in range(20)]
    second = [planner.act(Corridor(1), np.random.default_rng(s)) for s in range(20)]
    assert first == second and len(set(first)) == 2  # a high temperature really samples


def test_program_model_treats_exceptions_as_terminal():
    class Broken:
        def set_state(self, state):
            pass

        def step(self, action):
            raise RuntimeError("boom")

    model = ProgramModel(Broken(), 3)
    assert model.step(0) == (3, 0.0, True) and model.failures == 1


def test_normalized_return_is_undefined_not_zero():
    assert normalized_return(5.0, 0.0, 10.0) == pytest.approx(0.5)
    assert normalized_return(-200.0, -200.0, -200.0) is None
    assert normalized_return(1.0, None, 2.0) is None
    # An oracle ahead of random by less than the noise of the two means normalizes nothing.
    assert normalized_return(-495.0, -500.0, -492.0, noise=15.0) is None
    assert normalized_return(-495.0, -500.0, -492.0, noise=5.0) == pytest.approx(5 / 8)


def test_the_noise_threshold_uses_the_stored_episodes():
    spec = registry.get("Acrobot-v1")
    noise = normalizer_noise(spec, "default")
    returns = spec.baselines["default"]["oracle"]["returns"]
    expected = NOISE_STANDARD_ERRORS * np.std(returns, ddof=1) / np.sqrt(len(returns))
    assert noise == pytest.approx(expected)  # random's returns are all -500: no spread


@pytest.mark.parametrize("env_id", ["Taxi-v4", "CartPole-v1", "Pendulum-v1"])
def test_an_exact_program_plans_exactly_like_the_oracle(env_id):
    """Common random numbers: the same planner streams on both sides, so the reference program
    in the sandbox takes the oracle's actions and earns its returns."""
    spec = registry.get(env_id)
    preset = get_preset("default")
    with ProcessExecutor().open(spec.reference_source(), program_formats(spec)) as session:
        program = run_episodes(spec, ProgramPolicy(spec, preset, session), "ref", preset, 2)
    oracle = run_episodes(spec, OraclePolicy(spec, preset), "oracle", preset, 2)
    assert program.returns == oracle.returns and program.lengths == oracle.lengths


def _reference(spec):
    module_spec = importlib.util.spec_from_file_location("ref", spec.reference_path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module.Environment()


def test_sandboxed_planning_matches_in_process_planning():
    """The planner next to the program in the sandbox acts exactly as it would in-process."""
    spec = registry.get("CartPole-v1")
    preset = get_preset("default")
    with ProcessExecutor().open(spec.reference_source(), program_formats(spec)) as session:
        sandboxed = run_episodes(
            spec, ProgramPolicy(spec, preset, session), "reference", preset, episodes=1
        )

    class InProcess:
        def __init__(self):
            self.planner = MCTSPlanner(2, MCTSConfig(**planner_request(spec, preset)["config"]))

        def act(self, obs, env, rng):
            seed = int(rng.integers(2**31))
            model = ProgramModel(_reference(spec), np.asarray(obs, dtype=np.float32))
            return self.planner.act(model, np.random.default_rng(seed))

    local = run_episodes(spec, InProcess(), "reference", preset, episodes=1)
    assert sandboxed.returns == local.returns and sandboxed.lengths == local.lengths


@pytest.mark.parametrize("env_id", ["CliffWalking-v1", "Taxi-v4"])
def test_oracle_beats_random(env_id):
    spec = registry.get(env_id)
    preset = get_preset("default")
    oracle = run_episodes(spec, OraclePolicy(spec, preset), "oracle", preset, episodes=2)
    random = run_episodes(spec, RandomPolicy(spec), "random", preset, episodes=2)
    assert oracle.mean > random.mean


def test_stored_baselines_show_the_oracle_ahead_where_planning_helps():
    for env_id in ("Blackjack-v1", "CliffWalking-v1", "Taxi-v4", "CartPole-v1"):
        spec = registry.get(env_id)
        for preset in ("default", "paper"):
            random, oracle = spec.baseline(preset, "random"), spec.baseline(preset, "oracle")
            assert random is not None and oracle is not None, (env_id, preset)
            assert oracle > random, (env_id, preset, random, oracle)


def test_planning_stops_at_its_time_limit():
    from cwmb.planning.episodes import PlanningTimeout

    spec = registry.get("CartPole-v1")
    with pytest.raises(PlanningTimeout, match="longer than 0 s"):
        run_episodes(spec, RandomPolicy(spec), "random", get_preset("default"), time_limit_s=0.0)


def test_every_environment_has_paper_preset_baselines_with_their_source():
    published = {"HalfCheetah-v4", "Swimmer-v4", "Ant-v4", "HumanoidStandup-v4"}
    for env_id in registry.env_ids():
        spec = registry.get(env_id)
        if env_id in published:
            assert spec.baseline_source("paper") == "published, Table 12"
            assert "hours" in spec.baselines["paper"]["provenance"]["reason"]
        elif spec.baseline_source("paper") is None:
            continue  # still being computed (see README, Planners and baselines)
        else:
            assert spec.baseline_source("paper") == "computed here"
            assert len(spec.baselines["paper"]["oracle"]["returns"]) == 10
        assert spec.baseline("paper", "oracle") is not None


def test_published_baselines_normalize_without_a_noise_estimate():
    spec = registry.get("HalfCheetah-v4")
    assert normalizer_noise(spec, "paper") == 0.0
    assert spec_normalized_return(spec, "paper", 893.3) == pytest.approx(1.0)
