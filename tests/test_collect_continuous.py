"""Shipped continuous-action datasets are recreated byte for byte by `cwmb collect`, whatever the
number of planning processes (slow: CI runs it; the cheap environments only, the others follow
the same code path)."""

from __future__ import annotations

import pytest
from manifests import collected_manifest

from cwmb import registry
from cwmb.collect import collect
from cwmb.planning.cem import PROCESSES_VARIABLE

CHEAP = ["Pendulum-v1", "Reacher-v4", "InvertedPendulum-v4", "InvertedDoublePendulum-v4"]


@pytest.mark.slow
@pytest.mark.parametrize(("env_id", "processes"), [(e, "1") for e in CHEAP] + [("Reacher-v4", "2")])
def test_recollect_continuous_byte_for_byte(env_id, processes, tmp_path, monkeypatch):
    monkeypatch.setenv(PROCESSES_VARIABLE, processes)
    spec = registry.get(env_id)
    collect(spec, ["train", "heldout"], out_dir=tmp_path)
    for split in ("train", "heldout"):
        assert (tmp_path / f"{split}.npz").read_bytes() == spec.split_path(split).read_bytes(), (
            split
        )
    assert (tmp_path / "MANIFEST.json").read_bytes() == collected_manifest(spec)
