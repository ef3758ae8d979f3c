"""Dataset files: byte-reproducible writing, pickle-free reading, clear errors on damage."""

from __future__ import annotations

import numpy as np
import pytest
from manifests import collected_manifest

from cwmb import registry
from cwmb.collect import collect
from cwmb.dataset import load_split, npz_bytes, read_npz, save_split, sha256_file
from cwmb.errors import DatasetError

FAST_ENV = "CliffWalking-v1"


def test_npz_bytes_do_not_depend_on_time_or_order():
    a = {"x": np.arange(3), "y": np.ones(2, dtype=np.float32)}
    b = {"y": np.ones(2, dtype=np.float32), "x": np.arange(3)}
    assert npz_bytes(a) == npz_bytes(b)
    assert npz_bytes(a) != npz_bytes({"x": np.arange(4), "y": a["y"]})


def test_shipped_dataset_loads_and_matches_checksum():
    spec = registry.get(FAST_ENV)
    for split in ("train", "heldout"):
        data = load_split(spec, split)
        assert len(data) == spec.datasets[split]["transitions"]
        assert data.n_episodes == 10
        assert sha256_file(spec.split_path(split)) == spec.datasets[split]["sha256"]


def test_recollecting_gives_identical_bytes(tmp_path):
    spec = registry.get(FAST_ENV)
    collect(spec, ["train", "heldout"], out_dir=tmp_path)
    for split in ("train", "heldout"):
        assert (tmp_path / f"{split}.npz").read_bytes() == spec.split_path(split).read_bytes()
    assert (tmp_path / "MANIFEST.json").read_bytes() == collected_manifest(spec)


def test_truncated_file_is_a_clear_error(tmp_path):
    spec = registry.get(FAST_ENV)
    broken = tmp_path / "train.npz"
    broken.write_bytes(spec.split_path("train").read_bytes()[:500])
    with pytest.raises(DatasetError, match="corrupt dataset file"):
        read_npz(broken)


def test_corrupted_bytes_are_a_clear_error(tmp_path):
    spec = registry.get(FAST_ENV)
    data = bytearray(spec.split_path("train").read_bytes())
    data[len(data) // 2 : len(data) // 2 + 64] = b"\x00" * 64
    broken = tmp_path / "train.npz"
    broken.write_bytes(bytes(data))
    with pytest.raises(DatasetError, match="corrupt dataset file"):
        read_npz(broken)


def test_pickled_arrays_are_refused(tmp_path):
    path = tmp_path / "evil.npz"
    np.savez(path, obs=np.array([object()], dtype=object), reward=np.zeros(1))
    with pytest.raises(DatasetError, match="corrupt dataset file"):
        read_npz(path)


def test_checksum_mismatch_names_the_file(tmp_path, monkeypatch):
    spec = registry.get(FAST_ENV)
    data = load_split(spec, "train")
    monkeypatch.setenv("CWMB_TRAJECTORIES", str(tmp_path))
    save_split(tmp_path / FAST_ENV / "train.npz", data.select(slice(0, 10)))
    with pytest.raises(DatasetError, match="checksum mismatch .*train.npz"):
        load_split(spec, "train")
