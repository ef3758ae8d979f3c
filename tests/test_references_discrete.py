"""The reference world models of the six discrete-action environments reproduce Gymnasium.

Each reference is fed observations and actions taken from fresh Gymnasium rollouts (and from
hand-made edge cases) and must return the same next state, reward and `done` (termination).
Blackjack's scoring mask decides which components are compared there."""

from __future__ import annotations

import importlib.util
import itertools
import math
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import gymnasium as gym
import numpy as np
import pytest

from cwmb import registry

DISCRETE_ENVS = registry.DISCRETE_ENVS


def load_module(path: Path) -> ModuleType:
    """Import a data-package file by path (package directories are not valid module names)."""
    name = "cwmb_test_" + path.parent.name.replace("-", "_") + "_" + path.stem
    module_spec = importlib.util.spec_from_file_location(name, path)
    assert module_spec is not None and module_spec.loader is not None
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


def as_state(spec: registry.EnvSpec, obs: Any) -> Any:
    """The observation in the run-time layout the CWM contract promises to programs."""
    kind = spec.observation.type
    if kind == "discrete":
        return int(obs)
    if kind == "tuple":
        return tuple(int(v) for v in obs)
    return np.asarray(obs, dtype=spec.observation.dtype).reshape(spec.observation.shape)


class Checker:
    """Feeds (observation, action) pairs to a fresh reference and compares with the real outcome."""

    def __init__(self, env_id: str) -> None:
        self.spec = registry.get(env_id)
        self.model = load_module(self.spec.reference_path).Environment()
        self.checked = 0

    def check(
        self,
        obs: Any,
        action: int,
        next_obs: Any,
        reward: float,
        terminated: bool,
        scored: tuple[bool, bool, bool] = (True, True, True),
    ) -> None:
        self.model.set_state(as_state(self.spec, obs))
        got_state, got_reward, got_done = self.model.step(int(action))
        where = f"{self.spec.id}: obs={obs!r} action={action}"
        score_state, score_reward, score_done = scored
        if score_state:
            want = np.asarray(as_state(self.spec, next_obs))
            got = np.asarray(got_state)
            assert got.shape == want.shape, f"{where}: next state shape {got.shape} != {want.shape}"
            if self.spec.observation.discrete:
                assert np.array_equal(got, want), f"{where}: next state {got} != {want}"
            else:
                assert np.allclose(got, want, rtol=self.spec.rtol, atol=self.spec.atol), (
                    f"{where}: next state {got} != {want} (diff {np.abs(got - want).max():.3g})"
                )
        if score_reward:
            assert np.isclose(
                float(got_reward), float(reward), rtol=self.spec.rtol, atol=self.spec.atol
            ), f"{where}: reward {got_reward} != {reward}"
        if score_done:
            assert bool(got_done) is bool(terminated), f"{where}: done {got_done} != {terminated}"
        self.checked += 1


def load_mask(env_id: str) -> type | None:
    path = registry.get(env_id).package_dir / "mask.py"
    return load_module(path).ScoringMask if path.is_file() else None


Policy = Callable[[Any, np.random.Generator], int]


def rollouts(
    env_id: str, seeds: list[int], episodes: int, policy: Policy | None
) -> tuple[int, int]:
    """Episodes checked step by step; returns (transitions, terminations).

    Without a policy actions are uniform; with one, a steering policy (mixed with 20% random
    actions) drives the episode into states random play rarely reaches."""
    checker = Checker(env_id)
    mask_class = load_mask(env_id)
    terminations = 0
    for seed in seeds:
        env = gym.make(checker.spec.gym_id, **checker.spec.gym_kwargs)
        env.action_space.seed(seed)
        rng = np.random.default_rng(seed)
        for episode in range(episodes):
            obs, _ = env.reset(seed=seed * 1000 + episode)
            mask = mask_class() if mask_class is not None else None
            for _ in range(checker.spec.max_episode_steps):
                action = int(env.action_space.sample())
                if policy is not None and rng.random() < 0.8:
                    action = policy(obs, rng)
                if mask is not None:
                    mask.before_step(env.unwrapped, obs, action)
                next_obs, reward, terminated, truncated, _ = env.step(action)
                scored = (True, True, True)
                if mask is not None:
                    scored = mask.after_step(env.unwrapped, next_obs)
                checker.check(obs, action, next_obs, float(reward), terminated, scored)
                obs = next_obs
                if terminated or truncated:
                    terminations += int(terminated)
                    break
        env.close()
    return checker.checked, terminations


def walk_around_cliff(obs: Any, rng: np.random.Generator) -> int:
    row, col = divmod(int(obs), 12)
    if col == 11:
        return 2  # down the right edge to the goal
    return 0 if row == 3 else 1  # up from the bottom row, then right


def balance_pole(obs: Any, rng: np.random.Generator) -> int:
    return int(obs[2] + 0.5 * obs[3] > 0)


def pump_car(obs: Any, rng: np.random.Generator) -> int:
    return 2 if obs[1] >= 0 else 0


def pump_acrobot(obs: Any, rng: np.random.Generator) -> int:
    return 2 if obs[5] >= 0 else 0


# Per environment: (seeds, episodes per seed, policy, least number of terminations expected), so
# that real data exercises the terminal branch of every reference, not only the edge cases.
ROLLOUT_PLAN: dict[str, list[tuple[list[int], int, Policy | None, int]]] = {
    "Blackjack-v1": [([0, 1, 2, 3], 300, None, 1200)],
    "CliffWalking-v1": [([0, 1, 2, 3], 10, None, 0), ([4, 5, 6], 10, walk_around_cliff, 20)],
    "Taxi-v4": [([0, 1, 2], 10, None, 0)],
    "CartPole-v1": [([0, 1, 2], 20, None, 60), ([3, 4, 5], 3, balance_pole, 0)],
    "MountainCar-v0": [([0, 1], 3, None, 0), ([2, 3, 4], 5, pump_car, 12)],
    "Acrobot-v1": [([0, 1], 2, None, 0), ([2, 3, 4], 3, pump_acrobot, 8)],
}


@pytest.mark.parametrize("env_id", list(ROLLOUT_PLAN))
def test_reference_matches_rollouts(env_id: str) -> None:
    for seeds, episodes, policy, min_terminations in ROLLOUT_PLAN[env_id]:
        checked, terminations = rollouts(env_id, seeds, episodes, policy)
        assert checked > 0
        assert terminations >= min_terminations


@pytest.mark.parametrize("env_id", DISCRETE_ENVS)
def test_env_toml_matches_gymnasium(env_id: str) -> None:
    spec = registry.get(env_id)
    assert spec.id == env_id == spec.gym_id
    assert (spec.kind, spec.planner) == ("discrete", "mcts")
    assert spec.reference_path.is_file() and spec.description_path.is_file()
    assert "## Interface" in spec.description()
    # Only Blackjack hides randomness from the observation; the rollout tests above show the
    # other five are reproduced on every component without a mask.
    assert (spec.package_dir / "mask.py").is_file() == (env_id == "Blackjack-v1")
    env: Any = gym.make(spec.gym_id, **spec.gym_kwargs)
    registered = env.spec.max_episode_steps if env.spec else None
    assert spec.max_episode_steps == (registered or 100)
    assert (spec.action.type, spec.action.n, spec.action.dtype) == (
        "discrete",
        env.action_space.n,
        "int64",
    )
    obs, _ = env.reset(seed=0)
    space = env.observation_space
    layout = spec.observation
    if isinstance(space, gym.spaces.Discrete):
        assert (layout.type, layout.n, layout.dtype) == ("discrete", space.n, "int64")
    elif isinstance(space, gym.spaces.Tuple):
        assert (layout.type, layout.shape, layout.dtype) == ("tuple", (len(obs),), "int64")
    else:
        assert isinstance(space, gym.spaces.Box)
        assert (layout.type, layout.shape, layout.dtype) == ("box", space.shape, "float32")
        assert obs.dtype == np.float32
        finite = bool(np.all(np.isfinite(space.low)) and np.all(np.isfinite(space.high)))
        assert (layout.low is not None) == finite and (layout.high is not None) == finite
        if finite:
            assert np.array_equal(np.array(layout.low, dtype=np.float32), space.low)
            assert np.array_equal(np.array(layout.high, dtype=np.float32), space.high)
    env.close()


def exhaustive_tabular(env_id: str) -> int:
    """Every (state, action) pair of a deterministic tabular environment."""
    checker = Checker(env_id)
    env: Any = gym.make(checker.spec.gym_id, **checker.spec.gym_kwargs).unwrapped
    env.reset(seed=0)
    for state, action in itertools.product(
        range(env.observation_space.n), range(env.action_space.n)
    ):
        env.s = state
        next_obs, reward, terminated, _, _ = env.step(action)
        checker.check(state, action, next_obs, float(reward), terminated)
    env.close()
    return checker.checked


def test_cliffwalking_every_cell_and_move() -> None:
    assert exhaustive_tabular("CliffWalking-v1") == 48 * 4


def test_cliffwalking_cliff_sends_back_to_start() -> None:
    model = load_module(registry.get("CliffWalking-v1").reference_path).Environment()
    model.set_state(36)
    assert model.step(1) == (36, -100.0, False)  # right from the start: into the cliff
    model.set_state(26)  # row 2, column 2
    assert model.step(2) == (36, -100.0, False)  # down into the cliff
    model.set_state(35)
    assert model.step(2) == (47, -1.0, True)  # down onto the goal


def test_taxi_every_state_and_action() -> None:
    assert exhaustive_tabular("Taxi-v4") == 500 * 6


def test_taxi_pickup_dropoff_and_illegal_actions() -> None:
    model = load_module(registry.get("Taxi-v4").reference_path).Environment()
    encode = load_module(registry.get("Taxi-v4").reference_path).encode
    real: Any = gym.make("Taxi-v4").unwrapped
    real.reset(seed=0)
    cases = [
        (encode(0, 0, 0, 3), 4, encode(0, 0, 4, 3), -1.0, False),  # pick up at R
        (encode(0, 1, 0, 3), 4, encode(0, 1, 0, 3), -10.0, False),  # passenger elsewhere
        (encode(0, 0, 4, 3), 4, encode(0, 0, 4, 3), -10.0, False),  # already inside
        (encode(4, 3, 4, 3), 5, encode(4, 3, 3, 3), 20.0, True),  # delivered at B
        (encode(0, 4, 4, 3), 5, encode(0, 4, 1, 3), -1.0, False),  # left at G, not the goal
        (encode(2, 2, 4, 3), 5, encode(2, 2, 4, 3), -10.0, False),  # not on a stand
        (encode(4, 3, 1, 3), 5, encode(4, 3, 1, 3), -10.0, False),  # passenger not inside
        (encode(0, 1, 0, 3), 2, encode(0, 1, 0, 3), -1.0, False),  # wall east of (0, 1)
        (encode(4, 1, 0, 3), 3, encode(4, 1, 0, 3), -1.0, False),  # wall west of (4, 1)
        (encode(0, 2, 0, 3), 1, encode(0, 2, 0, 3), -1.0, False),  # top border
    ]
    for state, action, next_state, reward, done in cases:
        real.s = state
        next_obs, real_reward, terminated, _, _ = real.step(action)
        assert (next_obs, float(real_reward), terminated) == (next_state, reward, done)
        model.set_state(state)
        assert model.step(action) == (next_state, reward, done)


def exact_state(env: Any, values: list[float]) -> np.ndarray:
    """Install a simulator state that float32 represents exactly; returns its observation.

    For CartPole and MountainCar the observation is the state, so the reference then starts from
    exactly the numbers the simulator uses."""
    observed = np.array(values, dtype=np.float32)
    env.state = observed.astype(np.float64)
    return observed


def check_box_cases(
    env_id: str, cases: list[tuple[list[float], int]], install: Callable[[Any, list[float]], Any]
) -> list[tuple[np.ndarray, bool]]:
    """Put the real simulator into each state (`install` returns the observation), step it and
    compare the reference; returns the real (next observation, terminated) of every case."""
    checker = Checker(env_id)
    env = gym.make(checker.spec.gym_id, **checker.spec.gym_kwargs).unwrapped
    outcomes = []
    for values, action in cases:
        env.reset(seed=0)
        observed = install(env, values)
        next_obs, reward, terminated, _, _ = env.step(action)
        checker.check(observed, action, next_obs, float(reward), terminated)
        outcomes.append((next_obs, terminated))
    env.close()
    return outcomes


def test_cartpole_termination_boundaries() -> None:
    cases = [
        ([2.39, 1.0, 0.0, 0.0], 1),  # cart leaves on the right
        ([2.3, 1.0, 0.0, 0.0], 1),  # still inside
        ([-2.39, -1.0, 0.0, 0.0], 0),  # cart leaves on the left
        ([0.0, 0.0, 0.2, 1.0], 1),  # pole falls right
        ([0.0, 0.0, 0.2, 0.2], 0),  # 0.204 rad: just inside 12 degrees
        ([0.0, 0.0, -0.2, -1.0], 0),  # pole falls left
        ([1.0, -3.0, -0.1, 2.5], 1),  # fast, far from the limits
    ]

    outcomes = check_box_cases("CartPole-v1", cases, exact_state)
    assert [done for _, done in outcomes] == [True, False, True, True, False, True, False]


def test_mountaincar_walls_speed_limit_and_goal() -> None:
    cases = [
        ([-1.19, -0.05], 0),  # hits the left end: clipped to -1.2 and stopped
        ([-1.2, 0.0], 0),  # resting at the left end
        ([-0.5, 0.0695], 2),  # speed clipped to +0.07
        ([0.0, -0.0699], 0),  # speed clipped to -0.07
        ([0.45, 0.06], 2),  # reaches the goal moving right
        ([0.55, -0.001], 1),  # past the goal line but rolling back: not done
        ([0.59, 0.07], 2),  # clipped at the right end, at the goal
        ([-0.52, 0.0], 1),  # valley floor
    ]

    outcomes = check_box_cases("MountainCar-v0", cases, exact_state)
    assert [done for _, done in outcomes] == [False, False, False, False, True, False, True, False]
    model = load_module(registry.get("MountainCar-v0").reference_path).Environment()
    model.set_state(np.array([-1.19, -0.05], dtype=np.float32))
    next_state, _, _ = model.step(0)
    assert np.allclose(next_state, [-1.2, 0.0], rtol=0, atol=1e-6)


def test_acrobot_speed_limits_angle_wrap_and_goal_height() -> None:
    cases = [
        ([0.0, 1.5, 12.0, 28.0], 2),  # both joint speeds end clipped at +4pi / +9pi
        ([0.0, -1.5, -12.0, -28.0], 0),  # ... and at -4pi / -9pi
        ([0.0, 3.1, 0.0, 3.0], 1),  # the second angle wraps past pi
        ([-3.1, 3.1, -3.0, 2.0], 0),  # both angles wrap (past -pi and pi)
        ([math.pi - 0.1, 0.0, 0.0, 0.0], 1),  # tip high above the pivot: terminal
        ([math.pi / 2, 0.0, 0.0, 0.0], 1),  # arm horizontal: tip at pivot height
    ]

    def install(env: Any, values: list[float]) -> np.ndarray:
        env.state = np.array(values, dtype=np.float64)
        return env._get_ob()

    outcomes = check_box_cases("Acrobot-v1", cases, install)
    limits = np.array([4 * math.pi, 9 * math.pi], dtype=np.float32)
    assert np.array_equal(outcomes[0][0][4:], limits)
    assert np.array_equal(outcomes[1][0][4:], -limits)
    assert [done for _, done in outcomes] == [False, False, False, False, True, False]


class RiggedDeck:
    """Stands in for the simulator's random generator: deals a chosen sequence of cards."""

    def __init__(self, cards: list[int]) -> None:
        self.cards = list(cards)

    def choice(self, options: Any) -> int:
        return self.cards.pop(0)


def blackjack_hands() -> dict[tuple[int, int], list[list[int]]]:
    """Player hands for every playable (player_sum, usable_ace) pair, grouped by that pair: two-
    and three-card soft hands (a natural among them), hard hands with and without an ace."""
    hands: list[list[int]] = []
    for total in range(12, 22):
        hands.append([1, total - 11])  # soft, two cards ([1, 10] is a natural)
        if total >= 14:
            hands.append([1, 2, total - 13])  # soft, three cards
    for total in range(4, 21):
        hands.append([2, total - 2] if total <= 12 else [10, total - 10])  # hard, no ace
    for total in range(12, 22):
        hands.append([1, 10, total - 11])  # hard with an ace counted as 1
    hands.append([10, 5, 6])  # hard 21 without an ace
    blackjack = load_module(registry.get("Blackjack-v1").reference_path)
    grouped: dict[tuple[int, int], list[list[int]]] = defaultdict(list)
    for hand in hands:
        grouped[blackjack.hand_total(sum(hand), 1 in hand)].append(hand)
    return grouped


def blackjack_outcome(env: Any, player: list[int], dealer: list[int], action: int, deck: list[int]):
    env.player, env.dealer = list(player), list(dealer)
    env.np_random = RiggedDeck(deck)
    next_obs, reward, terminated, _, _ = env.step(action)
    return tuple(int(v) for v in next_obs), float(reward), terminated


def test_blackjack_mask_scores_only_what_the_observation_determines() -> None:
    """For every playable observation and action, deal every possible next card (hit) or every
    hidden card and draw sequence (stick): a component the mask scores must come out the same in
    all of them and equal the reference's answer; the ones it leaves out must really vary."""
    spec = registry.get("Blackjack-v1")
    mask_class = load_mask("Blackjack-v1")
    assert mask_class is not None
    model = load_module(spec.reference_path).Environment()
    env = gym.make(spec.gym_id, **spec.gym_kwargs).unwrapped
    env.reset(seed=0)
    cards = list(range(1, 11))
    groups = blackjack_hands()
    assert len(groups) == 10 + 17 + 1  # soft 12-21, hard 4-20, hard 21
    for ((total, usable), hands), up_card, action in itertools.product(
        groups.items(), cards, (0, 1)
    ):
        obs = (total, up_card, usable)
        if action == 1:
            deals = [([up_card, 5], [card]) for card in cards]
        else:  # the hidden card, then the dealer keeps drawing `draw`
            deals = [([up_card, hidden], [draw] * 10) for hidden in cards for draw in cards]
        outcomes = {
            blackjack_outcome(env, hand, dealer, action, deck)
            for hand in hands
            for dealer, deck in deals
        }
        mask = mask_class()
        mask.before_step(env, obs, action)
        scored = mask.after_step(env, obs)
        model.set_state(obs)
        predicted = model.step(action)
        predicted = (tuple(int(v) for v in predicted[0]), float(predicted[1]), bool(predicted[2]))
        for part in range(3):
            values = {outcome[part] for outcome in outcomes}
            where = f"obs={obs} action={action} component={part}: {values}"
            if scored[part]:
                assert values == {predicted[part]}, where
            else:
                assert len(values) > 1, where
                assert predicted[part] in values, where
    env.close()


def test_blackjack_mask_categories() -> None:
    mask_class = load_mask("Blackjack-v1")
    assert mask_class is not None

    def scored(obs: tuple[int, int, int], action: int) -> tuple[bool, bool, bool]:
        mask = mask_class()
        mask.before_step(None, obs, action)
        return mask.after_step(None, obs)

    assert scored((15, 10, 0), 0) == (True, False, True)  # stick
    assert scored((11, 10, 0), 1) == (False, True, True)  # hard 11: cannot bust
    assert scored((18, 3, 1), 1) == (False, True, True)  # soft 18: cannot bust
    assert scored((21, 3, 0), 1) == (False, True, True)  # hard 21: always busts
    assert scored((12, 3, 0), 1) == (False, False, False)  # may or may not bust


def test_interface_section_is_the_same_everywhere() -> None:
    """Only the line giving the run-time type of `state` differs between the six descriptions."""
    sections = set()
    for env_id in DISCRETE_ENVS:
        text = registry.get(env_id).description()
        interface = text[text.index("## Interface") :]
        sections.add(
            "\n".join(ln for ln in interface.splitlines() if not ln.startswith("- `state` is"))
        )
    assert len(sections) == 1
