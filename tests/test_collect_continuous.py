"""Shipped continuous-action datasets are recreated by `cwmb collect` exactly, whatever the number
of planning processes and whatever the CPU (slow: CI runs it). One small environment is re-collected
in full, byte for byte; every other one has its first trajectory re-collected and compared array by
array with the shipped split (the authors' recipe costs hours for all of them)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from manifests import collected_manifest

from cwmb import registry
from cwmb.dataset import load_split
from cwmb.numerics import PINNED_KERNELS
from cwmb.planning.cem import PROCESSES_VARIABLE

FULL = "Pendulum-v1"
SPOT_CHECKED = [e for e in registry.CONTINUOUS_ENVS if e != FULL]


def run_collect(env_id: str, out: Path, processes: str, *extra: str) -> None:
    # As a user runs it: the command pins the BLAS kernels itself (cwmb.numerics), before numpy
    # loads, so the environment it starts from has no pin.
    env = {k: v for k, v in os.environ.items() if k not in PINNED_KERNELS}
    env[PROCESSES_VARIABLE] = processes
    command = [sys.executable, "-m", "cwmb.cli", "collect", env_id, "--out", str(out), *extra]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=3600)
    assert result.returncode == 0, result.stderr[-2000:]


@pytest.mark.slow
def test_recollect_one_environment_in_full_byte_for_byte(tmp_path):
    run_collect(FULL, tmp_path, "2")
    spec = registry.get(FULL)
    for split in ("train", "heldout"):
        assert (tmp_path / f"{split}.npz").read_bytes() == spec.split_path(split).read_bytes(), (
            split
        )
    assert (tmp_path / "MANIFEST.json").read_bytes() == collected_manifest(spec)


@pytest.mark.slow
@pytest.mark.parametrize("env_id", SPOT_CHECKED)
def test_recollect_the_first_trajectory_of_every_other_environment(env_id, tmp_path):
    run_collect(env_id, tmp_path, "1", "--first", "1")
    spec = registry.get(env_id)
    for split in ("train", "heldout"):
        shipped = load_split(spec, split)
        first = shipped.episode == 0
        with np.load(tmp_path / f"{split}.npz", allow_pickle=False) as again:
            assert set(again.files) >= {"obs", "action", "reward", "next_obs"}
            for name in again.files:
                assert np.array_equal(again[name], getattr(shipped, name)[first]), (split, name)
