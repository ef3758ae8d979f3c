"""`cwmb collect`: the seeded procedure that records the shipped datasets.

Each split holds 10 episodes: 5 with uniformly random actions and 5 demonstrations from the
environment's planner on the true environment. Seeds, policies and versions go into MANIFEST.json;
running the procedure again gives the same bytes."""

from __future__ import annotations

import importlib.util
import json
import platform
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cwmb import envtoml
from cwmb.dataset import Transitions, atomic_write_bytes, save_split
from cwmb.planning.episodes import OraclePolicy, Policy, RandomPolicy
from cwmb.planning.presets import get_preset
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


def demonstration_policy(spec: EnvSpec, index: int) -> tuple[str, Callable[[], Policy]]:
    """The planner that records demonstration `index` (0..DEMO_EPISODES-1) of `spec`."""
    if spec.planner == "cem":
        from cwmb.planning.cem import demonstration_policy as cem_demo

        return cem_demo(spec, index)
    preset = get_preset(DEMO_PRESET)
    return f"mcts[{DEMO_PRESET}]", lambda: OraclePolicy(spec, preset)


def episode_plans(spec: EnvSpec, split: str) -> list[EpisodePlan]:
    base = SPLIT_SEEDS[split]
    plans = [
        EpisodePlan(base + i, "random", lambda: RandomPolicy(spec)) for i in range(RANDOM_EPISODES)
    ]
    for k in range(DEMO_EPISODES):
        name, factory = demonstration_policy(spec, k)
        plans.append(EpisodePlan(base + RANDOM_EPISODES + k, name, factory))
    return plans


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
    spec: EnvSpec, split: str, progress: Callable[[str], None] | None = None
) -> tuple[Transitions, list[dict[str, Any]]]:
    env = make_env(spec)
    mask_cls = _load_mask(spec)
    columns: dict[str, list] = {}
    episodes = []
    try:
        for index, plan in enumerate(episode_plans(spec, split)):
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
                    f"{spec.id} {split}: episode {index + 1}/10 ({plan.policy}) "
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
) -> dict[str, Any]:
    """Record `splits` into `out_dir` (default: the shipped location, updating env.toml)."""
    shipped = out_dir is None
    target = spec.trajectories_dir if out_dir is None else out_dir
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
            "policy_mix": f"{RANDOM_EPISODES} random + {DEMO_EPISODES} planner demonstrations per split",
            "format": "npz (allow_pickle=False); arrays obs, action, next_obs, reward, terminated, "
            "truncated, episode, step; optional bool masks score_state/score_reward/score_done",
        }
    )
    updates: dict[tuple[str, ...], dict[str, Any]] = {}
    for split in splits:
        data, episodes = collect_split(spec, split, progress)
        file_name = f"{split}.npz"
        digest = save_split(target / file_name, data)
        entry = {
            "file": file_name,
            "sha256": digest,
            "transitions": len(data),
            "episodes": len(episodes),
        }
        masked = {
            k: int((~getattr(data, k)).sum()) for k in ("score_state", "score_reward", "score_done")
        }
        manifest["splits"][split] = {
            **entry,
            "unscored": masked,
            "seed_base": SPLIT_SEEDS[split],
            "episode_list": episodes,
        }
        updates[("dataset", split)] = entry
    manifest["splits"] = dict(sorted(manifest["splits"].items()))
    atomic_write_bytes(manifest_path, manifest_bytes(manifest))
    if shipped:
        envtoml.update_tables(spec.toml_path, updates)
    return manifest


def main_progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
