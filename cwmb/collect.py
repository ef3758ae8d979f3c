"""`cwmb collect`: the seeded procedure that records the shipped datasets, by the authors' recipe.

Each split holds 10 episodes of at most `dataset_episode_steps` steps:
- continuous actions: 10 CEM trajectories on the true environment (T=100 capped at the episode
  limit, N=1000, K=100, iterations 1, 2, 3, 4, 5, 8, 12, 16, 20, 25; one per trajectory);
- discrete actions: 5 with uniformly random actions and 5 better-than-random demonstrations: the
  MCTS oracle, or, where the goal is out of its reach (MountainCar, Acrobot, CliffWalking), a
  goal-reaching controller (cwmb.demonstrations).
Seeds, policies, the recipe and versions go into MANIFEST.json; running the procedure again gives
the same bytes (under the pinned BLAS kernels, see cwmb.numerics)."""

from __future__ import annotations

import importlib.util
import json
import platform
import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from cwmb import envtoml
from cwmb.dataset import Transitions, atomic_write_bytes, save_split
from cwmb.demonstrations import goal_demonstration
from cwmb.errors import CwmbError
from cwmb.planning.episodes import OraclePolicy, Policy, RandomPolicy
from cwmb.planning.presets import CEMConfig, get_preset
from cwmb.registry import EnvSpec
from cwmb.true_env import make_env, to_storage

SPLIT_SEEDS = {"train": 0, "heldout": 1_000}  # episode i of a split is reset with seed base + i
RANDOM_EPISODES = 5
DEMO_EPISODES = 5
DEMO_PRESET = "default"


@dataclass
class EpisodePlan:
    seed: int
    policy: str  # "random" or a description of the demonstration planner
    make_policy: Callable[[], Policy]


# Recipes: which policy records each episode of a split. The recipe a split was recorded with is
# stored with it in env.toml ([dataset.<split>] recipe), so re-collection always reproduces it.
AUTHORS_RECIPE = "authors"
LEGACY_RECIPE = "cwmb-1"  # the first recipe; splits not yet re-collected by the authors' one
RECIPES = (AUTHORS_RECIPE, LEGACY_RECIPE)

# The authors' continuous recipe: trajectory i is one CEM plan with T=100 (capped at the episode
# limit), N=1000, K=100 and AUTHORS_CEM_ITERATIONS[i] iterations, executed open-loop; no random ones.
AUTHORS_CEM_ITERATIONS = (1, 2, 3, 4, 5, 8, 12, 16, 20, 25)
AUTHORS_CEM = CEMConfig(horizon=100, iterations=1, samples=1000, elites=100)
# cwmb-1: 5 random episodes, then CEM at the default preset's horizon with (iterations, samples,
# elites) growing per demonstration, and MCTS at the default preset for every discrete environment.
LEGACY_CEM_EFFORT = ((1, 10, 2), (2, 30, 5), (3, 100, 10), (5, 200, 20), (8, 400, 40))


def split_recipe(spec: EnvSpec, split: str) -> str:
    """The recipe the shipped split was recorded with (a split not shipped yet: the authors')."""
    entry = spec.datasets.get(split)
    if entry is None:
        return AUTHORS_RECIPE
    return str(entry.get("recipe", LEGACY_RECIPE))


def demonstration_policy(
    spec: EnvSpec, index: int, recipe: str
) -> tuple[str, Callable[[], Policy]]:
    """The policy that records demonstration `index` of `spec` under `recipe`."""
    if spec.planner == "cem":
        from cwmb.planning.cem import demonstration_policy as cem_demo

        if recipe == AUTHORS_RECIPE:
            return cem_demo(spec, replace(AUTHORS_CEM, iterations=AUTHORS_CEM_ITERATIONS[index]))
        iterations, samples, elites = LEGACY_CEM_EFFORT[index]
        horizon = get_preset("default").cem.horizon
        return cem_demo(spec, CEMConfig(horizon, iterations, samples, elites))
    controlled = goal_demonstration(spec, index) if recipe == AUTHORS_RECIPE else None
    if controlled is not None:
        return controlled
    preset = get_preset(DEMO_PRESET)
    return f"mcts[{DEMO_PRESET}]", lambda: OraclePolicy(spec, preset)


def episode_plans(spec: EnvSpec, split: str, recipe: str) -> list[EpisodePlan]:
    base = SPLIT_SEEDS[split]
    if spec.planner == "cem" and recipe == AUTHORS_RECIPE:
        demos = len(AUTHORS_CEM_ITERATIONS)
        return [EpisodePlan(base + i, *demonstration_policy(spec, i, recipe)) for i in range(demos)]
    plans = [
        EpisodePlan(base + i, "random", lambda: RandomPolicy(spec)) for i in range(RANDOM_EPISODES)
    ]
    for k in range(DEMO_EPISODES):
        name, factory = demonstration_policy(spec, k, recipe)
        plans.append(EpisodePlan(base + RANDOM_EPISODES + k, name, factory))
    return plans


def recipe_summary(spec: EnvSpec, recipe: str) -> str:
    """The recipe in one line, for MANIFEST.json."""
    if recipe == LEGACY_RECIPE:
        return f"{RANDOM_EPISODES} random + {DEMO_EPISODES} planner demonstrations per split"
    if spec.planner == "cem":
        schedule = ", ".join(map(str, AUTHORS_CEM_ITERATIONS))
        horizon = min(AUTHORS_CEM.horizon, spec.max_episode_steps)
        return (
            f"{len(AUTHORS_CEM_ITERATIONS)} CEM trajectories on the true environment, one plan each "
            f"run open-loop: T={horizon}, N={AUTHORS_CEM.samples}, K={AUTHORS_CEM.elites}, "
            f"iterations {schedule}"
        )
    demos = sorted(
        {demonstration_policy(spec, k, recipe)[0].split("[")[0] for k in range(DEMO_EPISODES)}
    )
    return f"{RANDOM_EPISODES} random + {DEMO_EPISODES} demonstrations ({', '.join(demos)})"


def mask_module(spec: EnvSpec) -> Any:
    """The data package's mask.py as a module, or None if it has none."""
    path = spec.package_dir / "mask.py"
    if not path.is_file():
        return None
    module_spec = importlib.util.spec_from_file_location(
        f"cwmb_mask_{spec.id.replace('-', '_')}", path
    )
    assert module_spec and module_spec.loader
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


def _load_mask(spec: EnvSpec) -> type | None:
    module = mask_module(spec)
    return None if module is None else module.ScoringMask


def record_episode(
    spec: EnvSpec, env: Any, plan: EpisodePlan, episode: int, mask_cls: type | None
) -> dict[str, list]:
    rows: dict[str, list] = {
        k: []
        for k in (
            "obs",
            "action",
            "next_obs",
            "reward",
            "terminated",
            "truncated",
            "episode",
            "step",
            "score_state",
            "score_reward",
            "score_done",
        )
    }
    policy = plan.make_policy()
    rng = np.random.default_rng(plan.seed)
    mask = mask_cls() if mask_cls else None
    obs, _ = env.reset(seed=plan.seed)
    for t in range(spec.dataset_episode_steps):
        action = policy.act(obs, env, rng)
        if mask:
            mask.before_step(env.unwrapped, obs, action)
        next_obs, reward, terminated, truncated, _ = env.step(action)
        truncated = bool(truncated) or (t + 1 == spec.dataset_episode_steps and not terminated)
        scored = mask.after_step(env.unwrapped, next_obs) if mask else (True, True, True)
        for key, value in (
            ("obs", to_storage(obs, spec.observation)),
            ("action", to_storage(action, spec.action)),
            ("next_obs", to_storage(next_obs, spec.observation)),
            ("reward", float(reward)),
            ("terminated", bool(terminated)),
            ("truncated", truncated),
            ("episode", episode),
            ("step", t),
            ("score_state", bool(scored[0])),
            ("score_reward", bool(scored[1])),
            ("score_done", bool(scored[2])),
        ):
            rows[key].append(value)
        obs = next_obs
        if terminated or truncated:
            break
    return rows


def collect_split(
    spec: EnvSpec,
    split: str,
    recipe: str,
    progress: Callable[[str], None] | None = None,
    first: int | None = None,
) -> tuple[Transitions, list[dict[str, Any]]]:
    """Record `split` by `recipe` (only its `first` episodes, when given: a spot check)."""
    env = make_env(spec)
    mask_cls = _load_mask(spec)
    columns: dict[str, list] = {}
    episodes = []
    try:
        plans = episode_plans(spec, split, recipe)
        for index, plan in enumerate(plans[:first]):
            rows = record_episode(spec, env, plan, index, mask_cls)
            for key, values in rows.items():
                columns.setdefault(key, []).extend(values)
            episodes.append(
                {
                    "episode": index,
                    "seed": plan.seed,
                    "policy": plan.policy,
                    "steps": len(rows["reward"]),
                    "return": float(np.sum(rows["reward"])),
                    "terminated": bool(rows["terminated"][-1]),
                }
            )
            if progress:
                progress(
                    f"{spec.id} {split}: episode {index + 1}/{len(plans)} ({plan.policy}) "
                    f"{len(rows['reward'])} steps, return {episodes[-1]['return']:.1f}"
                )
    finally:
        env.close()
    dtypes: dict[str, Any] = {
        "obs": spec.observation.dtype,
        "next_obs": spec.observation.dtype,
        "action": spec.action.dtype,
        "reward": np.float64,
        "terminated": bool,
        "truncated": bool,
        "episode": np.int32,
        "step": np.int32,
        "score_state": bool,
        "score_reward": bool,
        "score_done": bool,
    }
    arrays = {k: np.asarray(v, dtype=dtypes[k]) for k, v in columns.items()}
    return Transitions.from_arrays(arrays), episodes


def manifest_bytes(manifest: dict[str, Any]) -> bytes:
    """MANIFEST.json as written (sorted keys, so rewriting an unchanged manifest is a no-op)."""
    return (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode()


def versions() -> dict[str, str]:
    import gymnasium
    import mujoco

    return {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "gymnasium": gymnasium.__version__,
        "mujoco": mujoco.__version__,
    }


def collect(
    spec: EnvSpec,
    splits: list[str],
    out_dir: Path | None = None,
    progress: Callable[[str], None] | None = None,
    recipe: str | None = None,
    first: int | None = None,
) -> dict[str, Any]:
    """Record `splits` into `out_dir` (default: the shipped location, updating env.toml), each by
    `recipe`, or by the recipe it was recorded with (see `split_recipe`). With `first`, only the
    first episodes of each split are recorded (a spot check of the shipped data; never shipped)."""
    if first is not None and out_dir is None:
        raise CwmbError("a partial collection (--first) needs --out: shipped data stays whole")
    if recipe is not None and recipe not in RECIPES:
        raise CwmbError(f"unknown dataset recipe {recipe!r}; known: {', '.join(RECIPES)}")
    recipes = {split: recipe or split_recipe(spec, split) for split in splits}
    shipped = out_dir is None
    target = spec.trajectories_dir if out_dir is None else out_dir
    updates: dict[tuple[str, ...], dict[str, Any]] = {}
    collected: dict[str, Any] = {}
    for split in splits:
        data, episodes = collect_split(spec, split, recipes[split], progress, first)
        file_name = f"{split}.npz"
        digest = save_split(target / file_name, data)
        entry = {
            "file": file_name,
            "sha256": digest,
            "transitions": len(data),
            "episodes": len(episodes),
        }
        if recipes[split] != LEGACY_RECIPE:  # (legacy entries keep their bytes)
            entry["recipe"] = recipes[split]
        masked = {
            k: int((~getattr(data, k)).sum()) for k in ("score_state", "score_reward", "score_done")
        }
        collected[split] = {
            **entry,
            "unscored": masked,
            "seed_base": SPLIT_SEEDS[split],
            "episode_list": episodes,
        }
        updates[("dataset", split)] = entry
    # Read only now, after hours of collecting: other splits' entries (e.g. `paper`) may have
    # changed meanwhile, and only this run's splits are replaced.
    manifest_path = target / "MANIFEST.json"
    manifest: dict[str, Any] = (
        json.loads(manifest_path.read_text())
        if manifest_path.is_file()
        else {"env": spec.id, "splits": {}}
    )
    manifest.update(
        {
            "env": spec.id,
            "gym_id": spec.gym_id,
            "gym_kwargs": spec.gym_kwargs,
            "command": f"cwmb collect {spec.id}",
            "versions": versions(),
            "policy_mix": " / ".join(
                recipe_summary(spec, r) for r in sorted(set(recipes.values()))
            ),
            "format": "npz (allow_pickle=False); arrays obs, action, next_obs, reward, terminated, "
            "truncated, episode, step; optional bool masks score_state/score_reward/score_done",
        }
    )
    manifest["splits"].update(collected)
    manifest["splits"] = dict(sorted(manifest["splits"].items()))
    atomic_write_bytes(manifest_path, manifest_bytes(manifest))
    if shipped:
        envtoml.update_tables(spec.toml_path, updates)
    return manifest


def main_progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
