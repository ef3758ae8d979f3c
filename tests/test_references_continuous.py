"""The reference world models of the twelve continuous-action environments reproduce Gymnasium.

Fresh Gymnasium rollouts (seeds no dataset uses) are recorded the way `cwmb collect` records them,
including each package's scoring mask (`before_step`, step, `after_step` on the unwrapped env).
Every transition is then given to the reference (`set_state(obs)`, `step(action)`), which must match
every scored component within the package's tolerance. The masks must leave most transitions
scored; the fractions are printed (`pytest -s`)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import gymnasium as gym
import numpy as np
import pytest

from cwmb import registry

CONTINUOUS_ENVS = registry.CONTINUOUS_ENVS
MUJOCO_ENVS = CONTINUOUS_ENVS[1:]
TEST_SEED = 7_000_000  # datasets use seeds 0-9 and 1000-1009
FAST_STEPS = 300
SLOW_STEPS = 3_000
# Reward is scored only on the first step of an episode there (see their mask.py).
STALE_REWARD_ENVS = {"Ant-v4", "Humanoid-v4"}
# Under random actions Walker2d's joints spin faster than the observation's clip bound (10) on
# about 80% of the steps; those transitions are rightly unscored.
MIN_SCORED = {"Walker2d-v4": 0.1}


def load_module(path: Path) -> ModuleType:
    name = "cwmb_test_" + path.parent.name.replace("-", "_") + "_" + path.stem
    module_spec = importlib.util.spec_from_file_location(name, path)
    assert module_spec is not None and module_spec.loader is not None
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


def make_env(spec: registry.EnvSpec) -> Any:
    return gym.make(
        spec.gym_id,
        max_episode_steps=spec.max_episode_steps,
        disable_env_checker=True,
        **spec.gym_kwargs,
    )


def mask_factory(spec: registry.EnvSpec) -> Any:
    path = spec.package_dir / "mask.py"
    return load_module(path).ScoringMask if path.is_file() else None


@dataclass
class Transition:
    obs: np.ndarray
    action: np.ndarray
    next_obs: np.ndarray
    reward: float
    terminated: bool
    scored: tuple[bool, bool, bool]


@dataclass
class Tally:
    transitions: int = 0
    scored: list[int] = field(default_factory=lambda: [0, 0, 0])  # state, reward, done
    any_scored: int = 0

    def add(self, scored: tuple[bool, bool, bool]) -> None:
        self.transitions += 1
        self.any_scored += any(scored)
        for i, flag in enumerate(scored):
            self.scored[i] += flag

    def fractions(self) -> dict[str, float]:
        n = max(self.transitions, 1)
        names = ("state", "reward", "done")
        out = {name: self.scored[i] / n for i, name in enumerate(names)}
        out["any"] = self.any_scored / n
        return out


def record(
    spec: registry.EnvSpec,
    total_steps: int,
    seed: int,
    hold: int = 1,
    start: Any = None,
) -> list[Transition]:
    """Random-action episodes (each action held for `hold` steps), recorded like the collector.

    `start(env)`, when given, may change the simulator state right after each reset."""
    env = make_env(spec)
    env.action_space.seed(seed)
    masks = mask_factory(spec)
    out: list[Transition] = []
    episode = 0
    while len(out) < total_steps:
        obs, _ = env.reset(seed=seed + episode)
        if start is not None:
            obs = start(env.unwrapped)
        episode += 1
        mask = masks() if masks else None
        action = env.action_space.sample()
        for t in range(spec.dataset_episode_steps):
            if t % hold == 0:
                action = env.action_space.sample()
            if mask:
                mask.before_step(env.unwrapped, obs, action)
            next_obs, reward, terminated, truncated, _ = env.step(action)
            scored = mask.after_step(env.unwrapped, next_obs) if mask else (True, True, True)
            out.append(
                Transition(
                    np.array(obs),
                    np.array(action),
                    np.array(next_obs),
                    float(reward),
                    bool(terminated),
                    (bool(scored[0]), bool(scored[1]), bool(scored[2])),
                )
            )
            obs = next_obs
            if terminated or truncated or len(out) >= total_steps:
                break
    env.close()
    return out


def check_reference(spec: registry.EnvSpec, transitions: list[Transition]) -> Tally:
    """Every scored component of every transition matches the reference."""
    model = load_module(spec.reference_path).Environment()
    tally = Tally()
    obs_dtype, act_dtype = spec.observation.dtype, spec.action.dtype
    for i, tr in enumerate(transitions):
        tally.add(tr.scored)
        model.set_state(np.asarray(tr.obs, dtype=obs_dtype).reshape(spec.observation.shape))
        state, reward, done = model.step(np.asarray(tr.action, dtype=act_dtype))
        where = f"{spec.id} transition {i} (scored {tr.scored})"
        if tr.scored[0]:
            got = np.asarray(state, dtype=np.float64)
            want = np.asarray(tr.next_obs, dtype=np.float64)
            assert got.shape == want.shape, f"{where}: shape {got.shape} != {want.shape}"
            close = np.isclose(got, want, rtol=spec.rtol, atol=spec.atol)
            bad = np.flatnonzero(~close)
            assert close.all(), (
                f"{where}: state elements {bad[:8]} got {got[bad[:8]]} want {want[bad[:8]]}"
            )
        if tr.scored[1]:
            assert np.isclose(float(reward), tr.reward, rtol=spec.rtol, atol=spec.atol), (
                f"{where}: reward {reward!r} != {tr.reward!r}"
            )
        if tr.scored[2]:
            assert bool(done) == tr.terminated, f"{where}: done {done!r} != {tr.terminated!r}"
    return tally


def report(spec: registry.EnvSpec, tally: Tally) -> None:
    fractions = ", ".join(f"{k} {v:.2f}" for k, v in tally.fractions().items())
    print(f"{spec.id}: {tally.transitions} transitions, scored fraction: {fractions}")


def assert_mostly_scored(spec: registry.EnvSpec, tally: Tally) -> None:
    fractions = tally.fractions()
    floor = MIN_SCORED.get(spec.id, 0.5)
    assert min(fractions["any"], fractions["state"], fractions["done"]) >= floor, fractions
    if spec.id not in STALE_REWARD_ENVS:
        assert fractions["reward"] >= floor, fractions


@pytest.mark.parametrize("env_id", CONTINUOUS_ENVS)
def test_reference_matches_fresh_rollouts(env_id: str) -> None:
    spec = registry.get(env_id)
    transitions = record(spec, FAST_STEPS, TEST_SEED)
    tally = check_reference(spec, transitions)
    report(spec, tally)
    assert_mostly_scored(spec, tally)


@pytest.mark.slow
@pytest.mark.parametrize("env_id", CONTINUOUS_ENVS)
def test_reference_matches_long_rollouts(env_id: str) -> None:
    """Longer rollouts, half of them holding each random action for 5 steps (faster motion,
    more falls, more clipped velocities)."""
    spec = registry.get(env_id)
    transitions = record(spec, SLOW_STEPS // 2, TEST_SEED + 100_000)
    transitions += record(spec, SLOW_STEPS // 2, TEST_SEED + 200_000, hold=5)
    tally = check_reference(spec, transitions)
    report(spec, tally)
    assert_mostly_scored(spec, tally)


def test_pusher_mask_leaves_out_a_sliding_object() -> None:
    """An object set sliding at reset makes state and reward unscored until it has come to rest;
    everything scored still matches the reference."""
    spec = registry.get("Pusher-v5")

    def slide_object(env: Any) -> np.ndarray:
        qvel = env.data.qvel.copy()
        qvel[7:9] = (0.3, -0.2)  # object slide joints (y, x)
        env.set_state(env.data.qpos.copy(), qvel)
        return env._get_obs()

    transitions = record(spec, 200, TEST_SEED + 300_000, start=slide_object)
    tally = check_reference(spec, transitions)
    assert transitions[0].scored == (False, False, True)
    unscored = [i for i, tr in enumerate(transitions[:100]) if not tr.scored[0]]
    assert 10 <= len(unscored) < 100, unscored  # sliding for a while, at rest afterwards
    assert tally.fractions()["state"] < 1.0


def test_reacher_mask_leaves_out_an_ambiguous_elbow() -> None:
    """An elbow angle beyond pi (through the soft limit) reads like one near -pi: not scored."""
    spec = registry.get("Reacher-v4")

    def bend_elbow(env: Any) -> np.ndarray:
        qpos = env.data.qpos.copy()
        qpos[1] = 3.2
        env.set_state(qpos, env.data.qvel.copy())
        return env._get_obs()

    transitions = record(spec, 50, TEST_SEED + 400_000, start=bend_elbow)
    assert transitions[0].scored == (False, False, False)
    check_reference(spec, transitions)


def test_interface_section_is_the_same_everywhere() -> None:
    """Only the lines giving the run-time types of `state` and `action` differ."""
    sections = set()
    for env_id in CONTINUOUS_ENVS:
        text = registry.get(env_id).description()
        interface = text[text.index("## Interface") :]
        sections.add(
            "\n".join(
                line
                for line in interface.splitlines()
                if not line.startswith(("- `state` is", "- `action` is"))
            )
        )
    assert len(sections) == 1


def test_references_do_not_import_gymnasium() -> None:
    """The MuJoCo references find the model files without importing Gymnasium (fast start-up, and
    the sandbox that runs them has no use for it)."""
    code = (
        "import sys, importlib.util\n"
        "from cwmb import registry\n"
        f"for env_id in {MUJOCO_ENVS!r}:\n"
        "    path = registry.get(env_id).reference_path\n"
        "    spec = importlib.util.spec_from_file_location('ref', path)\n"
        "    module = importlib.util.module_from_spec(spec)\n"
        "    spec.loader.exec_module(module)\n"
        "    module.Environment()\n"
        "assert 'gymnasium' not in sys.modules, 'gymnasium was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
