"""What an untrusted program can see: the standard library, numpy, and the few project modules
that the worker and the planner beside it run on. Nothing else is mounted in its sandbox.

Two profiles, chosen by the host from what it runs, never by the program:
- `program`: every LLM-written or submitted program. Its filesystem holds the system's shared
  libraries, the interpreter's standard library, numpy (with the libraries bundled in its wheel)
  and a copy of `PROGRAM_MODULES`. Every installed-package folder is absent or covered by an
  empty read-only mount, so Gymnasium, MuJoCo, the rest of cwmb and their files cannot be read.
- `reference`: the project's own trusted reference programs, which drive MuJoCo through
  `cwmb.envs.mujoco_common`: the whole Python installation.

`python -m cwmb.sandbox.program_view DEST` assembles the program profile's library folder (the
module copy and numpy) in DEST; the project image is built with one."""

from __future__ import annotations

import glob
import json
import os
import shutil
import sys
import sysconfig
from pathlib import Path

from cwmb.sandbox.base import HIDDEN_ENV_FILES

PROFILES = ("program", "reference")
IMAGE_LIBRARY = "/opt/cwmb-program"  # the program profile's library folder in the project image

# Project files a program's sandbox holds (paths inside the cwmb package): the worker, what it
# imports, and the planners it runs next to the program. Nothing that knows an environment.
PROGRAM_MODULES = (
    "__init__.py",
    "errors.py",
    "formats.py",
    "sandbox/__init__.py",
    "sandbox/protocol.py",
    "sandbox/worker.py",
    "planning/__init__.py",
    "planning/base.py",
    "planning/cem.py",
    "planning/forkpool.py",
    "planning/mcts.py",
    "planning/presets.py",
    "planning/runtime.py",
)


def check_profile(profile: str) -> str:
    if profile not in PROFILES:
        raise ValueError(f"unknown sandbox profile {profile!r}; choose one of {PROFILES}")
    return profile


def package_dir() -> Path:
    """The installed cwmb package (found from this file: importing cwmb is not needed)."""
    return Path(__file__).resolve().parents[1]


def assemble_package(target: str | os.PathLike[str]) -> Path:
    """Copy `PROGRAM_MODULES` into TARGET/cwmb; returns that folder."""
    source, dest = package_dir(), Path(target) / "cwmb"
    for name in PROGRAM_MODULES:
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source / name, dest / name)
    return dest


def numpy_trees() -> list[str]:
    """numpy's package folder and the shared libraries its wheel bundles (`numpy.libs`)."""
    import numpy

    home = Path(numpy.__file__).resolve().parent
    trees = [str(home)]
    bundled = home.parent / "numpy.libs"
    if bundled.is_dir():
        trees.append(str(bundled))
    return trees


def package_folders() -> list[str]:
    """Every folder this machine's Python installs packages in (system, base interpreter,
    virtual environment, user), whether or not it is on `sys.path` right now."""
    found: set[str] = set()
    prefixes = {sys.prefix, sys.base_prefix, sys.exec_prefix, "/usr", "/usr/local"}
    for prefix in prefixes:
        for pattern in ("lib*/python3*/site-packages", "lib*/python3*/dist-packages"):
            found.update(glob.glob(os.path.join(prefix, pattern)))
        found.update(glob.glob(os.path.join(prefix, "lib*/python3/dist-packages")))
    for key in ("purelib", "platlib"):
        found.add(sysconfig.get_paths()[key])
    for entry in sys.path:
        if entry.endswith(("site-packages", "dist-packages")):
            found.add(entry)
    return sorted(os.path.realpath(p) for p in found if os.path.isdir(p))


def assemble(target: str) -> None:
    """The program profile's library folder for an image: cwmb's program modules and numpy."""
    assemble_package(target)
    for tree in numpy_trees():
        shutil.copytree(tree, os.path.join(target, os.path.basename(tree)), symlinks=True)


def hidden_env_files() -> list[str]:
    """The files of the environment packages that no sandbox may read (`HIDDEN_ENV_FILES`)."""
    envs = package_dir() / "envs"
    return sorted(str(p) for pattern in HIDDEN_ENV_FILES for p in envs.glob(pattern))


def outermost(paths: list[str]) -> list[str]:
    """`paths` without those inside another one of them."""
    kept: list[str] = []
    for path in sorted(set(paths)):
        if not any(inside(path, parent) for parent in kept):
            kept.append(path)
    return kept


def inside(path: str, parent: str) -> bool:
    return path.startswith(parent.rstrip("/") + "/")


def image_layout() -> dict[str, object]:
    """What the docker backend needs to know of an image (asked once per image): the base
    interpreter, the program library, the folders to cover for programs (the virtual
    environment included) and the files to blank for references (`HIDDEN_ENV_FILES`)."""
    return {
        "python": os.path.realpath(getattr(sys, "_base_executable", sys.executable)),
        "library": IMAGE_LIBRARY if os.path.isdir(os.path.join(IMAGE_LIBRARY, "cwmb")) else None,
        "masked": outermost([*package_folders(), os.path.realpath(sys.prefix)]),
        "hidden": hidden_env_files(),
    }


def main() -> None:
    """`DEST`: assemble the library folder there; `--layout`: print `image_layout()`."""
    args = sys.argv[1:]
    if args == ["--layout"]:
        print(json.dumps(image_layout()))
    elif len(args) == 1 and not args[0].startswith("-"):
        assemble(args[0])
    else:
        sys.exit("usage: python -m cwmb.sandbox.program_view DEST | --layout")


if __name__ == "__main__":
    main()
