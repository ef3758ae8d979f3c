"""What `cwmb collect` into a fresh folder must reproduce of a shipped MANIFEST.json: all of it
except the `paper` split, which `cwmb convert-paper-buffers` adds (see cwmb/paper_split.py)."""

from __future__ import annotations

import json

from cwmb.collect import manifest_bytes
from cwmb.registry import EnvSpec


def collected_manifest(spec: EnvSpec) -> bytes:
    manifest = json.loads((spec.trajectories_dir / "MANIFEST.json").read_text())
    manifest["splits"].pop("paper", None)
    return manifest_bytes(manifest)
