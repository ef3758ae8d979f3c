"""The two sandbox profiles: an untrusted program sees only the standard library, numpy and the
worker's own modules; the trusted references get MuJoCo and the environment helpers. Both work
wherever the checkout lives, /tmp included."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

import pytest
import sandbox_backends

from cwmb import registry
from cwmb.dataset import load_split
from cwmb.evaluation import open_program, predict, program_formats, sandbox_profile, score_program
from cwmb.formatting import format_program
from cwmb.sandbox.base import Executor, Limits, SandboxError
from cwmb.sandbox.process import ProcessExecutor
from cwmb.sandbox.program_view import PROGRAM_MODULES
from cwmb.sandbox.worker import ONLY_STDLIB_AND_NUMPY
from cwmb.scoring import score

backend = sandbox_backends.backend  # the fixture: every backend

ROOT = Path(__file__).resolve().parents[1]
HOSTILE = ROOT / "tests" / "hostile"
LIMITS = Limits(load_seconds=30, wall_seconds=60)

# A program that reports what it can import on its stderr: every top-level module on its
# sys.path outside the standard library's folders, and the files of the cwmb package it can see.
INVENTORY = """
import os, pkgutil, sys, sysconfig
import cwmb
stdlib = os.path.realpath(sysconfig.get_path("stdlib"))
home = {stdlib, os.path.join(stdlib, "lib-dynload")}
outside = sorted(
    {m.name for m in pkgutil.iter_modules() if os.path.realpath(m.module_finder.path) not in home}
)
package = os.path.dirname(cwmb.__file__)
files = sorted(
    os.path.relpath(os.path.join(folder, name), package)
    for folder, _, names in os.walk(package) for name in names if name.endswith(".py")
)
sys.stderr.write("INVENTORY " + repr((outside, files)) + "\\n")

class Environment:
    def set_state(self, state):
        pass

    def step(self, action):
        return [0.0] * 4, 0.0, False
"""


@pytest.fixture(scope="module")
def executor(backend: tuple[str, Executor]) -> Executor:
    return backend[1]


def _inventory(executor: Executor, profile: str) -> tuple[list[str], list[str]]:
    spec = registry.get("CartPole-v1")
    with executor.open(INVENTORY, program_formats(spec), LIMITS, profile) as session:
        session.step_batch([[0.0] * 4], [0])  # the worker has written everything before it
        text = session.stderr_tail(1 << 16)
    assert "INVENTORY " in text, text
    found: tuple[list[str], list[str]] = ast.literal_eval(text.split("INVENTORY ", 1)[1].strip())
    return found


def test_a_program_sees_only_the_standard_library_numpy_and_the_worker(executor: Executor) -> None:
    outside, files = _inventory(executor, "program")
    assert set(outside) <= {"numpy", "cwmb"}, outside
    assert files == sorted(PROGRAM_MODULES)


def test_a_reference_sees_the_simulators(executor: Executor) -> None:
    """The inventory can fail: the reference profile shows what a program's profile hides."""
    outside, files = _inventory(executor, "reference")
    assert {"gymnasium", "mujoco", "numpy"} <= set(outside)
    assert "true_env.py" in files and "envs/mujoco_common.py" in files


def test_mujoco_reference_scores_in_its_profile_and_fails_as_a_program(executor: Executor) -> None:
    spec = registry.get("Reacher-v4")
    data = load_split(spec, "train").select(slice(0, 50))
    reference = spec.reference_source()
    with open_program(executor, spec, reference, LIMITS) as session:
        assert score(spec, data, predict(session, data)).accuracy == 1.0
    # One byte more and it is a program like any other: the host decides, from what it runs.
    scores = score_program(spec, reference + "\n", ["train"], executor, LIMITS)
    assert scores["train"].accuracy == 0.0
    assert ONLY_STDLIB_AND_NUMPY in (scores["train"].error or "")
    assert "'cwmb.envs'" in (scores["train"].error or "")


def test_the_host_chooses_the_profile_from_what_it_runs(tmp_path: Path) -> None:
    spec = registry.get("Reacher-v4")
    reference = spec.reference_source()
    assert sandbox_profile(spec, reference) == "reference"
    formatted = format_program(reference)  # what the runner scores and keeps
    assert formatted != reference and sandbox_profile(spec, formatted) == "reference"
    assert sandbox_profile(spec, reference + "\n") == "program"
    assert sandbox_profile(spec, "") == "program"
    assert sandbox_profile(registry.get("CartPole-v1"), reference) == "program"


def test_unknown_profile_is_refused() -> None:
    spec = registry.get("CartPole-v1")
    with pytest.raises(ValueError, match="unknown sandbox profile"):
        ProcessExecutor().open("", program_formats(spec), LIMITS, "everything")


def test_simulator_import_works_only_where_the_simulator_is_mounted(executor: Executor) -> None:
    """The hostile `import_gymnasium` program really plays the true CartPole when it can import
    Gymnasium (the reference profile), so its failure as a program is the view's doing."""
    spec = registry.get("CartPole-v1")
    data = load_split(spec, "train").select(slice(0, 100))
    source = (HOSTILE / "import_gymnasium.py").read_text()
    with executor.open(source, program_formats(spec), LIMITS, "reference") as session:
        assert score(spec, data, predict(session, data)).accuracy > 0.9
    with pytest.raises(SandboxError, match=ONLY_STDLIB_AND_NUMPY):
        executor.open(source, program_formats(spec), LIMITS, "program")


@pytest.mark.parametrize("name", ["read_simulator_files", "ctypes_libmujoco"])
def test_file_attacks_find_the_simulator_where_it_is_mounted(executor: Executor, name: str) -> None:
    """The searches of the hostile suite are good enough to find Gymnasium's and MuJoCo's files
    when they are there, so their coming back empty in a program's sandbox means something."""
    spec = registry.get("CartPole-v1")
    source = (HOSTILE / f"{name}.py").read_text()
    with executor.open(source, program_formats(spec), LIMITS, "reference") as session:
        got, found = session.step_batch([[0.0] * 4], [0])[0]["next_state"][:2]
    assert got > 0 and found > 0


# -- a checkout under /tmp ----------------------------------------------------------------------
def _clone_under_tmp() -> Path:
    """A clone of this checkout's HEAD in a fresh folder under /tmp, with a virtual environment
    that finds cwmb in the clone and the installed dependencies in ours."""
    clone = Path(tempfile.mkdtemp(prefix="cwmb-clone-", dir="/tmp"))
    subprocess.run(
        ["git", "clone", "--quiet", "--no-hardlinks", str(ROOT), str(clone / "repo")],
        check=True,
        timeout=300,
    )
    repo = clone / "repo"
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", "--without-pip", str(repo / ".venv")], check=True)
    site = Path(sysconfig.get_path("purelib", vars={"base": str(repo / ".venv")}, scheme="venv"))
    site.mkdir(parents=True, exist_ok=True)
    (site / "cwmb-clone.pth").write_text(f"{repo}\n{sysconfig.get_path('purelib')}\n")
    return repo


@pytest.mark.slow
def test_process_sandbox_works_from_a_clone_under_tmp() -> None:
    repo = _clone_under_tmp()
    try:
        python = str(repo / ".venv" / "bin" / "python")
        cli = [python, "-c", "from cwmb.cli import main; main()"]
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": "/tmp"}

        def cwmb(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [*cli, *args], cwd=repo, env=env, capture_output=True, text=True, timeout=600
            )

        where = subprocess.run(
            [python, "-c", "import cwmb; print(cwmb.__file__)"],
            cwd=repo,
            env=env,
            capture_output=True,
            text=True,
        )
        assert where.stdout.strip() == str(repo / "cwmb" / "__init__.py")
        verified = cwmb("verify", "Reacher-v4", "--isolation", "process")
        assert verified.returncode == 0, verified.stdout + verified.stderr
        assert "ok   Reacher-v4" in verified.stdout
        hostile = cwmb(
            "score",
            "--env",
            "CartPole-v1",
            "--split",
            "train",
            "--isolation",
            "process",
            "tests/hostile/import_gymnasium.py",
        )
        assert hostile.returncode == 0, hostile.stderr
        assert "accuracy 0.0000" in hostile.stdout
        assert ONLY_STDLIB_AND_NUMPY in hostile.stdout
    finally:
        shutil.rmtree(repo.parent, ignore_errors=True)
