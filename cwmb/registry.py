"""The environment registry: one `EnvSpec` per data package in `cwmb/envs/<EnvId>/`.

A data package is plain data (`env.toml`, `description.md`, `description_detailed.md`,
`reference.py`); the registry reads it lazily and never imports Gymnasium, so listing environments
stays instant.

Descriptions come in two tiers. `standard` (description.md, the default) says what the
environment's Gymnasium docstring says, as the paper's prompts did; `detailed`
(description_detailed.md) adds everything an exact simulator needs (equations, constants, model
parameters). Only standard-tier results are comparable with the paper."""

from __future__ import annotations

import math
import os
import statistics
import tomllib
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from cwmb.errors import CwmbError, UnknownEnvironment

ENVS_DIR = Path(__file__).resolve().parent / "envs"
PROJECT_ROOT = Path(__file__).resolve().parents[1]

DESCRIPTION_TIERS = ("standard", "detailed")
DEFAULT_DESCRIPTION_TIER = "standard"
_DESCRIPTION_FILES = {"standard": "description.md", "detailed": "description_detailed.md"}


def check_description_tier(tier: str) -> str:
    """`tier` itself, or one clear error naming the tiers there are."""
    if tier not in _DESCRIPTION_FILES:
        raise CwmbError(
            f"unknown description tier {tier!r}; choose one of: {', '.join(DESCRIPTION_TIERS)}"
        )
    return tier


def trajectories_root() -> Path:
    """Where shipped datasets live (override with $CWMB_TRAJECTORIES)."""
    return Path(os.environ.get("CWMB_TRAJECTORIES", PROJECT_ROOT / "trajectories"))


@dataclass(frozen=True)
class SpaceFormat:
    """How an observation or action is laid out, as the dataset stores it.

    type: "discrete" (one integer in [0, n)), "box" (an array of `shape` and `dtype` within
    [low, high]) or "tuple" (a fixed-length tuple of integers, stored as an int array)."""

    type: str
    dtype: str
    shape: tuple[int, ...] = ()
    n: int | None = None
    low: tuple[float, ...] | None = None
    high: tuple[float, ...] | None = None
    discrete: bool = True  # compare exactly (True) or with tolerances (False)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SpaceFormat:
        kind = data["type"]
        low = data.get("low")
        high = data.get("high")
        return cls(
            type=kind,
            dtype=data["dtype"],
            shape=tuple(data.get("shape", ())),
            n=data.get("n"),
            low=tuple(low) if low is not None else None,
            high=tuple(high) if high is not None else None,
            discrete=not data["dtype"].startswith("float"),
        )

    def to_dict(self) -> dict[str, Any]:
        """The plain form the sandbox worker uses to convert values (see cwmb.formats)."""
        return {
            "type": self.type,
            "dtype": self.dtype,
            "shape": list(self.shape),
            "n": self.n,
            "low": None if self.low is None else list(self.low),
            "high": None if self.high is None else list(self.high),
        }

    @property
    def size(self) -> int:
        size = 1
        for dim in self.shape:
            size *= dim
        return size


@dataclass(frozen=True)
class EnvSpec:
    id: str
    gym_id: str
    kind: str  # "discrete" or "continuous" actions
    planner: str  # "mcts" or "cem"
    max_episode_steps: int
    dataset_episode_steps: int  # cap on a recorded episode's length
    observation: SpaceFormat
    action: SpaceFormat
    rtol: float
    atol: float
    package_dir: Path
    gym_kwargs: dict[str, Any] = field(default_factory=dict)
    datasets: dict[str, dict[str, Any]] = field(default_factory=dict)
    baselines: dict[str, dict[str, Any]] = field(default_factory=dict)
    notes: dict[str, Any] = field(default_factory=dict)
    # Whether `max_episode_steps` is Gymnasium's registered TimeLimit (False: the benchmark's cap).
    registered_time_limit: bool = True

    @property
    def env_time_limit(self) -> int | None:
        """The environment's own time limit, None where Gymnasium registers none."""
        return self.max_episode_steps if self.registered_time_limit else None

    @property
    def toml_path(self) -> Path:
        return self.package_dir / "env.toml"

    @property
    def description_path(self) -> Path:
        """The standard tier's file."""
        return self.description_file(DEFAULT_DESCRIPTION_TIER)

    def description_file(self, tier: str) -> Path:
        return self.package_dir / _DESCRIPTION_FILES[check_description_tier(tier)]

    @property
    def reference_path(self) -> Path:
        return self.package_dir / "reference.py"

    @property
    def trajectories_dir(self) -> Path:
        return trajectories_root() / self.id

    def description(self, tier: str = DEFAULT_DESCRIPTION_TIER) -> str:
        """The task text of `tier` ("standard" or "detailed")."""
        return self.description_file(tier).read_text(encoding="utf-8")

    def reference_source(self) -> str:
        return self.reference_path.read_text(encoding="utf-8")

    def split_path(self, split: str) -> Path:
        if split not in self.datasets:
            raise CwmbError(
                f"{self.id} has no dataset split {split!r} (has: {', '.join(self.datasets)})"
            )
        return self.trajectories_dir / self.datasets[split]["file"]

    def baseline(self, preset: str, which: str) -> float | None:
        """Mean return of `which` ("random" or "oracle") at `preset`, or None if not computed."""
        entry = self.baselines.get(preset, {}).get(which)
        return None if entry is None else float(entry["mean"])

    def baseline_source(self, preset: str) -> str | None:
        """Where the baselines at `preset` come from: "computed here", a published table, or
        None when there are none."""
        entry = self.baselines.get(preset)
        if entry is None:
            return None
        return str(entry.get("provenance", {}).get("source", "computed here"))

    def baseline_standard_error(self, preset: str, which: str) -> float:
        """The standard error of that mean (0 where the episodes are not stored: published)."""
        entry = self.baselines.get(preset, {}).get(which) or {}
        returns = entry.get("returns") or []
        if len(returns) < 2:
            return 0.0
        return statistics.stdev(map(float, returns)) / math.sqrt(len(returns))


def _load(package_dir: Path) -> EnvSpec:
    try:
        data = tomllib.loads((package_dir / "env.toml").read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise CwmbError(f"cannot read {package_dir / 'env.toml'}: {exc}") from exc
    tol = data.get("tolerance", {})
    return EnvSpec(
        id=data["id"],
        gym_id=data["gym_id"],
        kind=data["kind"],
        planner=data["planner"],
        max_episode_steps=int(data["max_episode_steps"]),
        dataset_episode_steps=int(data.get("dataset_episode_steps", data["max_episode_steps"])),
        observation=SpaceFormat.from_dict(data["observation"]),
        action=SpaceFormat.from_dict(data["action"]),
        rtol=float(tol.get("rtol", 1e-5)),
        atol=float(tol.get("atol", 1e-5)),
        package_dir=package_dir,
        gym_kwargs=dict(data.get("gym_kwargs", {})),
        datasets=dict(data.get("dataset", {})),
        baselines=dict(data.get("baselines", {})),
        notes=dict(data.get("notes", {})),
        registered_time_limit=bool(data.get("registered_time_limit", True)),
    )


def env_ids() -> list[str]:
    """Every environment with a data package, in the order of DESIGN.md's table."""
    found = [p.name for p in ENVS_DIR.iterdir() if (p / "env.toml").is_file()]
    order = {name: i for i, name in enumerate(CANONICAL_ORDER)}
    return sorted(found, key=lambda name: (order.get(name, len(order)), name))


@cache
def get(env_id: str) -> EnvSpec:
    package_dir = ENVS_DIR / env_id
    if not (package_dir / "env.toml").is_file():
        known = ", ".join(env_ids()) or "none"
        raise UnknownEnvironment(f"unknown environment {env_id!r}; known: {known}")
    return _load(package_dir)


def all_specs() -> list[EnvSpec]:
    return [get(env_id) for env_id in env_ids()]


CANONICAL_ORDER = [
    "Blackjack-v1",
    "CliffWalking-v1",
    "Taxi-v4",
    "CartPole-v1",
    "MountainCar-v0",
    "Acrobot-v1",
    "Pendulum-v1",
    "Reacher-v4",
    "Pusher-v5",
    "InvertedPendulum-v4",
    "InvertedDoublePendulum-v4",
    "HalfCheetah-v4",
    "Hopper-v4",
    "Swimmer-v4",
    "Walker2d-v4",
    "Ant-v4",
    "Humanoid-v4",
    "HumanoidStandup-v4",
]
DISCRETE_ENVS = CANONICAL_ORDER[:6]
CONTINUOUS_ENVS = CANONICAL_ORDER[6:]
