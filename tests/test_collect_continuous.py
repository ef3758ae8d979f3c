"""Shipped continuous-action datasets are recreated byte for byte by `cwmb collect`, whatever the
number of planning processes and whatever the CPU (slow: CI runs it; the cheap environments only,
the others follow the same code path)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from cwmb import registry
from cwmb.numerics import PINNED_KERNELS
from cwmb.planning.cem import PROCESSES_VARIABLE

CHEAP = ["Pendulum-v1", "Reacher-v4", "InvertedPendulum-v4", "InvertedDoublePendulum-v4"]


@pytest.mark.slow
@pytest.mark.parametrize(("env_id", "processes"), [(e, "1") for e in CHEAP] + [("Reacher-v4", "2")])
def test_recollect_continuous_byte_for_byte(env_id, processes, tmp_path):
    # As a user runs it: the command pins the BLAS kernels itself (cwmb.numerics), before numpy
    # loads, so the environment it starts from has no pin.
    env = {k: v for k, v in os.environ.items() if k not in PINNED_KERNELS}
    env[PROCESSES_VARIABLE] = processes
    command = [sys.executable, "-m", "cwmb.cli", "collect", env_id, "--out", str(tmp_path)]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=1800)
    assert result.returncode == 0, result.stderr[-2000:]
    spec = registry.get(env_id)
    for split in ("train", "heldout"):
        assert (tmp_path / f"{split}.npz").read_bytes() == spec.split_path(split).read_bytes(), (
            split
        )
    assert (tmp_path / "MANIFEST.json").read_bytes() == (
        spec.trajectories_dir / "MANIFEST.json"
    ).read_bytes()
