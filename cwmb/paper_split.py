"""The `paper` split: the authors' published train buffers, converted once into our format.

Source: `data/replay_buffers/gymnasium_envs/<their id>/train_buffer.pkl` in the authors' repository
(Apache-2.0), read from a git clone with `git show` and parsed by `cwmb.paper_buffers`, which never
unpickles anything but numbers and numeric arrays. What the buffers hold and how each of our
arrays is derived from them:

- `traj_starts[i]` is the index of the first transition of row i's episode: `episode` numbers the
  distinct starts in order and `step` is `i - traj_starts[i]`.
- `dones[i]` is `terminated or truncated` (the authors' collection loop). The buffers carry no
  truncation flag; a done on the step that reaches the time limit the authors' Gymnasium 0.29.1
  registered for the environment is a truncation, any other done a termination. (None of the
  published time-limit dones is also a termination: the reference predicts none on them.) Episodes
  the collection cut at 100 steps are neither.
- Observations, actions and rewards keep the values as stored: continuous actions float64,
  rewards float32, observations in the dtype our env.toml declares (the conversion checks it is
  lossless).
- The first row of every MuJoCo episode records the reset observation, while the authors'
  simulator stepped from the model's default state: nothing of that row follows from its
  observation, so its three components are masked. So is whatever the rule of the package's
  mask.py that needs only the observation leaves out (Blackjack's hidden cards, a velocity at the
  clip bound); mask checks that need the simulator's full state cannot apply to recorded rows.

The split is for scoring only: it is never mounted into a job (bench/launch.py mounts the train
split alone and the image holds no trajectories)."""

from __future__ import annotations

import hashlib
import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cwmb import envtoml
from cwmb.collect import manifest_bytes, mask_module
from cwmb.dataset import Transitions, atomic_write_bytes, save_split
from cwmb.errors import DatasetError
from cwmb.paper_buffers import read_buffer
from cwmb.registry import EnvSpec

SPLIT = "paper"
FILE_NAME = "paper.npz"
REPOSITORY = "nicoladainese96/code-world-models"
REPOSITORY_URL = f"https://github.com/{REPOSITORY}"
LICENCE = "Apache-2.0"
BUFFER_PATH = "data/replay_buffers/gymnasium_envs/{source_id}/train_buffer.pkl"


@dataclass(frozen=True)
class PaperEnv:
    """One published buffer: the authors' environment id, ours, and what conversion must know."""

    source_id: str
    env_id: str
    time_limit: int | None  # TimeLimit of the authors' Gymnasium 0.29.1 registration
    mujoco: bool  # the first row of each episode is the reset defect
    # Why our reference is not exact on the split's scored transitions (None: it is exact).
    reference_gap: str | None = None


# Measured with the pinned MuJoCo 4 (see the README's table of the reference on this split).
_HOPPER_GAP = (
    "MuJoCo 4 (pinned) against the authors' MuJoCo 2.3.x: states leave the tolerance from the "
    "first floor contact on (step 7 to 10 of every episode)"
)
_ANT_GAP = (
    "MuJoCo 4 (pinned) against the authors' MuJoCo 2.3.x: states leave the tolerance from step 3 "
    "(the first contacts) on, and the reward, a forward velocity from positions 0.05 s apart, "
    "magnifies even the earlier sub-tolerance differences beyond it"
)
_PUSHER_GAP = (
    "Pusher-v4 (theirs) computes the reward before the physics step, v5 (ours) after it; states "
    "also leave the tolerance once the arm touches the object (MuJoCo 2.3 against 4)"
)
PAPER_ENVS = {
    env.env_id: env
    for env in (
        PaperEnv("Blackjack-v1", "Blackjack-v1", None, False),
        PaperEnv("CliffWalking-v0", "CliffWalking-v1", None, False),
        PaperEnv("Taxi-v3", "Taxi-v4", 200, False),
        PaperEnv("CartPole-v1", "CartPole-v1", 500, False),
        PaperEnv("MountainCar-v0", "MountainCar-v0", 200, False),
        PaperEnv("Acrobot-v1", "Acrobot-v1", 500, False),
        PaperEnv("Pendulum-v1", "Pendulum-v1", 200, False),
        PaperEnv("Reacher-v4", "Reacher-v4", 50, True),
        PaperEnv("Pusher-v4", "Pusher-v5", 100, True, _PUSHER_GAP),
        PaperEnv("InvertedPendulum-v4", "InvertedPendulum-v4", 1000, True),
        PaperEnv("InvertedDoublePendulum-v4", "InvertedDoublePendulum-v4", 1000, True),
        PaperEnv("HalfCheetah-v4", "HalfCheetah-v4", 1000, True),
        PaperEnv("Hopper-v4", "Hopper-v4", 1000, True, _HOPPER_GAP),
        PaperEnv("Swimmer-v4", "Swimmer-v4", 1000, True),
        PaperEnv("Walker2d-v4", "Walker2d-v4", 1000, True),
        PaperEnv("Ant-v4", "Ant-v4", 1000, True, _ANT_GAP),
    )
}


def paper_env(env_id: str) -> PaperEnv:
    if env_id not in PAPER_ENVS:
        raise DatasetError(
            f"the authors published no train buffer for {env_id} "
            f"(they did for: {', '.join(PAPER_ENVS)})"
        )
    return PAPER_ENVS[env_id]


@dataclass(frozen=True)
class Source:
    """Where one buffer came from, to the byte."""

    path: str
    commit: str
    data: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    def provenance(self) -> dict[str, Any]:
        return {
            "repository": REPOSITORY_URL,
            "path": self.path,
            "commit": self.commit,
            "sha256": self.sha256,
            "licence": LICENCE,
        }


def _git(repo: Path, *args: str) -> bytes:
    try:
        done = subprocess.run(
            ["git", "-C", str(repo), *args], capture_output=True, check=False, timeout=120
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise DatasetError(f"cannot run git on {repo}: {exc}") from exc
    if done.returncode != 0:
        message = done.stderr.decode(errors="replace").strip().splitlines()
        raise DatasetError(f"git {' '.join(args)} in {repo}: {message[-1] if message else '?'}")
    return done.stdout


def read_source(repo: Path, commit: str, paper: PaperEnv) -> Source:
    """The buffer of `paper` at `commit` of the authors' repository cloned at `repo`."""
    full_commit = _git(repo, "rev-parse", "--verify", f"{commit}^{{commit}}").decode().strip()
    path = BUFFER_PATH.format(source_id=paper.source_id)
    data = _git(repo, "show", f"{full_commit}:{path}")
    if not data:
        raise DatasetError(
            f"{path} at {full_commit[:12]} is empty in {repo} (a file the clone did not fetch)"
        )
    if data.startswith(b"version https://git-lfs"):
        raise DatasetError(f"{path} is a Git LFS pointer, not the buffer itself")
    return Source(path, full_commit, data)


def _column(values: list[Any], dtype: str, name: str, shape: tuple[int, ...]) -> np.ndarray:
    """Rows of one field as an array of `dtype`, refusing any conversion that changes a value."""
    try:
        raw = np.asarray([np.asarray(v) for v in values])
    except ValueError as exc:
        raise DatasetError(f"buffer field {name} is ragged: {exc}") from exc
    raw = raw.reshape((len(values), *shape))
    column = raw.astype(dtype)
    if not np.array_equal(column, raw):
        raise DatasetError(f"buffer field {name} does not fit dtype {dtype} without loss")
    return column


def _episodes(traj_starts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    rows = np.arange(traj_starts.shape[0])
    starts = traj_starts.astype(np.int64)
    first_of_run = np.r_[True, starts[1:] != starts[:-1]]
    if np.any(starts[first_of_run] != rows[first_of_run]) or np.any(starts > rows):
        raise DatasetError("the buffer's traj_starts do not delimit consecutive episodes")
    episode = (np.cumsum(first_of_run) - 1).astype(np.int32)
    return episode, (rows - starts).astype(np.int32)


def _observation_rule(spec: EnvSpec) -> Any:
    module = mask_module(spec)
    return getattr(getattr(module, "ScoringMask", None), "scored_from_observation", None)


def observation_masks(spec: EnvSpec, obs: np.ndarray, action: np.ndarray) -> list[np.ndarray]:
    """(state, reward, done) masks from the rule of the package's mask.py that needs only the
    observation and action (`ScoringMask.scored_from_observation`: Blackjack's hidden cards, a
    velocity at the clip bound); all True where there is none. Checks that need the simulator's
    full state cannot be applied to recorded buffers."""
    n = obs.shape[0]
    rule = _observation_rule(spec)
    if rule is None:
        return [np.ones(n, dtype=bool) for _ in range(3)]
    rows = np.array([rule(o, a) for o, a in zip(obs, action, strict=True)], dtype=bool)
    return [rows[:, k].copy() for k in range(3)]


def to_transitions(spec: EnvSpec, paper: PaperEnv, fields: dict[str, Any]) -> Transitions:
    """Our split of one buffer (see the module docstring for each array)."""
    n = fields["idx"]
    episode, step = _episodes(fields["traj_starts"])
    obs_shape = spec.observation.shape
    obs = _column(fields["obs"], spec.observation.dtype, "obs", obs_shape)
    next_obs = _column(fields["next_obs"], spec.observation.dtype, "next_obs", obs_shape)
    action_dtype = "float64" if spec.action.type == "box" else spec.action.dtype
    action = _column(fields["actions"], action_dtype, "actions", spec.action.shape)
    done = fields["dones"].astype(bool)
    last = np.r_[episode[1:] != episode[:-1], True]
    if np.any(done & ~last):
        raise DatasetError("the buffer has a done before the end of an episode")
    at_limit = (step + 1 == paper.time_limit) if paper.time_limit else np.zeros(n, dtype=bool)
    truncated = done & at_limit
    first_row_ok = np.ones(n, dtype=bool) if not paper.mujoco else step != 0
    masks = [first_row_ok & column for column in observation_masks(spec, obs, action)]
    return Transitions.from_arrays(
        {
            "obs": obs,
            "action": action,
            "next_obs": next_obs,
            "reward": fields["rewards"].astype(np.float32),
            "terminated": done & ~truncated,
            "truncated": truncated,
            "episode": episode,
            "step": step,
            "score_state": masks[0],
            "score_reward": masks[1],
            "score_done": masks[2],
        }
    )


def continuity_breaks(data: Transitions) -> int:
    """Rows whose observation is not the previous row's next observation within an episode."""
    same = data.episode[1:] == data.episode[:-1]
    equal = np.all(
        data.obs[1:].reshape(len(data) - 1, -1) == data.next_obs[:-1].reshape(len(data) - 1, -1),
        axis=1,
    )
    return int(np.sum(same & ~equal))


def convert(
    spec: EnvSpec, source: Source, paper: PaperEnv, out_dir: Path | None = None
) -> dict[str, Any]:
    """Write `trajectories/<EnvId>/paper.npz`, its MANIFEST entry and env.toml's [dataset.paper]
    (into `out_dir` instead, if given, leaving env.toml alone)."""
    data = to_transitions(spec, paper, read_buffer(source.data))
    target = spec.trajectories_dir if out_dir is None else out_dir
    digest = save_split(target / FILE_NAME, data)
    entry: dict[str, Any] = {
        "file": FILE_NAME,
        "sha256": digest,
        "transitions": len(data),
        "episodes": data.n_episodes,
    }
    if paper.reference_gap:
        entry["reference_gap"] = paper.reference_gap
    manifest_path = target / "MANIFEST.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.is_file() else {}
    manifest.setdefault("env", spec.id)
    manifest.setdefault("splits", {})
    manifest["splits"][SPLIT] = {
        **entry,
        "command": f"cwmb convert-paper-buffers --repo CLONE --commit {source.commit} {spec.id}",
        "source": {**source.provenance(), "environment": paper.source_id},
        "derived": {
            "done": "terminated or truncated, as the authors' buffer stored it",
            "truncated": (
                f"a done on step {paper.time_limit} (the authors' TimeLimit)"
                if paper.time_limit
                else "never (no TimeLimit in the authors' registration)"
            ),
            "masked": ("the first row of every episode (reset defect)" if paper.mujoco else "none")
            + ("; mask.py's observation-only rule" if _observation_rule(spec) else ""),
        },
        "unscored": {
            k: int((~getattr(data, k)).sum()) for k in ("score_state", "score_reward", "score_done")
        },
        "continuity_breaks": continuity_breaks(data),
    }
    manifest["splits"] = dict(sorted(manifest["splits"].items()))
    atomic_write_bytes(manifest_path, manifest_bytes(manifest))
    if out_dir is None:
        envtoml.update_tables(spec.toml_path, {("dataset", SPLIT): entry})
    return manifest["splits"][SPLIT]
