"""Datasets of recorded transitions: loading with checks, and byte-reproducible writing.

Files are `.npz` archives read with `allow_pickle=False`. `np.savez` stamps the current time into
the zip entries, so `save_split` writes the archive itself with a fixed timestamp: collecting twice
gives the same bytes."""

from __future__ import annotations

import hashlib
import io
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cwmb.errors import DatasetError
from cwmb.registry import EnvSpec

REQUIRED = ("obs", "action", "next_obs", "reward", "terminated", "truncated", "episode", "step")
MASKS = ("score_state", "score_reward", "score_done")
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


@dataclass
class Transitions:
    """One split: parallel arrays, one row per transition."""

    obs: np.ndarray
    action: np.ndarray
    next_obs: np.ndarray
    reward: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray
    episode: np.ndarray
    step: np.ndarray
    score_state: np.ndarray
    score_reward: np.ndarray
    score_done: np.ndarray

    def __len__(self) -> int:
        return int(self.reward.shape[0])

    @property
    def n_episodes(self) -> int:
        return int(np.unique(self.episode).size)

    def arrays(self) -> dict[str, np.ndarray]:
        return {name: getattr(self, name) for name in REQUIRED + MASKS}

    def select(self, index: np.ndarray | slice) -> Transitions:
        return Transitions(**{k: v[index] for k, v in self.arrays().items()})

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> Transitions:
        n = int(np.asarray(arrays["reward"]).shape[0])
        full = dict(arrays)
        for mask in MASKS:
            full.setdefault(mask, np.ones(n, dtype=bool))
        return cls(**{k: np.asarray(full[k]) for k in REQUIRED + MASKS})


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    """An `.npz` archive of `arrays` (sorted by name) whose bytes depend only on the arrays."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(arrays):
            info = zipfile.ZipInfo(f"{name}.npy", date_time=_ZIP_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            payload = io.BytesIO()
            np.lib.format.write_array(
                payload, np.ascontiguousarray(arrays[name]), allow_pickle=False
            )
            archive.writestr(info, payload.getvalue())
    return buffer.getvalue()


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


def save_split(path: Path, transitions: Transitions) -> str:
    """Write a split; masks that score everything are left out. Returns the file's sha256."""
    arrays = {k: v for k, v in transitions.arrays().items() if k in REQUIRED or not v.all()}
    data = npz_bytes(arrays)
    atomic_write_bytes(path, data)
    return hashlib.sha256(data).hexdigest()


def read_npz(path: Path) -> Transitions:
    """Read a split file, rejecting anything that is not a well-formed pickle-free dataset."""
    if not path.is_file():
        raise DatasetError(f"dataset file not found: {path}")
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
    except Exception as exc:  # zip, format or pickle errors all mean a corrupt file
        raise DatasetError(f"corrupt dataset file {path}: {exc}") from exc
    missing = [name for name in REQUIRED if name not in arrays]
    if missing:
        raise DatasetError(f"corrupt dataset file {path}: missing arrays {', '.join(missing)}")
    n = arrays["reward"].shape[0]
    ragged = [k for k, v in arrays.items() if v.shape[:1] != (n,)]
    if ragged:
        raise DatasetError(
            f"corrupt dataset file {path}: arrays {', '.join(ragged)} do not have {n} rows"
        )
    return Transitions.from_arrays(arrays)


def load_split(spec: EnvSpec, split: str, verify: bool = True) -> Transitions:
    """Load a shipped split of `spec`, checking its sha256 against env.toml."""
    path = spec.split_path(split)
    if verify and path.is_file():
        expected = spec.datasets[split].get("sha256")
        actual = sha256_file(path)
        if expected and actual != expected:
            raise DatasetError(
                f"checksum mismatch for {path}: expected {expected[:12]}..., got {actual[:12]}... "
                f"(recreate it with `cwmb collect {spec.id}`)"
            )
    return read_npz(path)
