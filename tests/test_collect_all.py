"""Every shipped dataset is recreated byte for byte by `cwmb collect` (slow: CI runs it)."""

from __future__ import annotations

import pytest
from manifests import collected_manifest

from cwmb import registry
from cwmb.collect import collect


@pytest.mark.slow
@pytest.mark.parametrize("env_id", registry.DISCRETE_ENVS)
def test_recollect_discrete_byte_for_byte(env_id, tmp_path):
    spec = registry.get(env_id)
    collect(spec, ["train", "heldout"], out_dir=tmp_path)
    for split in ("train", "heldout"):
        assert (tmp_path / f"{split}.npz").read_bytes() == spec.split_path(split).read_bytes(), (
            split
        )
    assert (tmp_path / "MANIFEST.json").read_bytes() == collected_manifest(spec)
