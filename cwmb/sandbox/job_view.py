"""What a job must not see, as paths in the installation it runs from.

A job (one method on one environment) gets the description, the interface, the train split, the
budgeted LLM and `evaluate`. The installation it runs from holds more, and this module names it:

- files to blank (an empty file over each): the reference programs and scoring masks of every
  environment and the shared reference machinery beside them, and every description file (a job
  gets the one of its run's tier as a file of its own);
- folders to empty (an empty read-only folder over each): the compiled copies of those modules
  (`__pycache__` of the environment folders), the simulator packages (Gymnasium, MuJoCo) with
  their metadata and bundled libraries, and the shipped datasets.

The `references` capability (see cwmb.capabilities) keeps the references and the simulators they
run on visible. The held-out split is withheld from every job.

Both launchers use it: the process launcher calls `withheld` on the host; the Docker launcher runs
`python -I -m cwmb.sandbox.job_view [CAPABILITY...]` in the image, which prints the same lists for
the image's own installation as JSON."""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cwmb.sandbox.base import HIDDEN_ENV_FILES

SIMULATOR_PACKAGES = ("gymnasium", "mujoco", "mujoco_core", "mujoco_studio")
DESCRIPTION_FILES = "*/description*.md"  # blanked whatever the capabilities
ANSWER_KEY_FILES = tuple(g for g in HIDDEN_ENV_FILES if g != DESCRIPTION_FILES)
SHARED_REFERENCE_MODULES = ("mujoco_common.py", "mujoco_masks.py")  # beside them
REFERENCES = "references"  # the capability that keeps them (cwmb.capabilities.REFERENCES)


@dataclass(frozen=True)
class Withheld:
    files: tuple[str, ...]
    folders: tuple[str, ...]

    def to_dict(self) -> dict[str, list[str]]:
        return {"files": list(self.files), "folders": list(self.folders)}


def _envs_dir() -> Path:
    import cwmb.envs

    return Path(cwmb.envs.__file__).resolve().parent


def _matching(envs: Path, globs: Iterable[str]) -> list[str]:
    return sorted(str(p) for pattern in globs for p in envs.glob(pattern) if p.is_file())


def _reference_paths(envs: Path, make_caches: bool) -> tuple[list[str], list[str]]:
    files = [str(envs / name) for name in SHARED_REFERENCE_MODULES if (envs / name).is_file()]
    files += _matching(envs, ANSWER_KEY_FILES)
    folders = []
    for folder in [envs, *sorted(p for p in envs.iterdir() if p.is_dir() and p.name[0] != "_")]:
        cache = folder / "__pycache__"
        if make_caches:  # an empty folder now, so a compiled copy written later stays hidden
            with contextlib.suppress(OSError):
                cache.mkdir(exist_ok=True)
        if cache.is_dir():
            folders.append(str(cache))
    return files, folders


def _is_simulator(name: str) -> bool:
    stem = name.split("-", 1)[0] if name.endswith(".dist-info") else name
    stem = stem.removesuffix(".libs").removesuffix(".py")
    return stem.lower() in SIMULATOR_PACKAGES


def _simulator_paths(search_path: Iterable[str]) -> tuple[list[str], list[str]]:
    files: list[str] = []
    folders: list[str] = []
    seen: set[str] = set()
    for entry in search_path:
        if not entry or not os.path.isdir(entry) or entry in seen:
            continue
        seen.add(entry)
        for name in sorted(os.listdir(entry)):
            if _is_simulator(name):
                path = os.path.join(entry, name)
                (folders if os.path.isdir(path) else files).append(path)
    return files, folders


def withheld(capabilities: Iterable[str] = (), make_caches: bool = False) -> Withheld:
    """The paths of this installation that a job with `capabilities` must not read."""
    from cwmb.registry import trajectories_root

    files = _matching(_envs_dir(), [DESCRIPTION_FILES])
    folders: list[str] = []
    if REFERENCES not in set(capabilities):
        for more_files, more_folders in (
            _reference_paths(_envs_dir(), make_caches),
            _simulator_paths(sys.path),
        ):
            files += more_files
            folders += more_folders
    datasets = trajectories_root().resolve()
    if datasets.is_dir():
        folders.append(str(datasets))
    return Withheld(tuple(files), tuple(folders))


if __name__ == "__main__":
    print(json.dumps(withheld(sys.argv[1:]).to_dict()))
