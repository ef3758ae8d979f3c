"""Methods from a folder outside the project (CWMB_METHODS_PATH): found by name, checked by the
host without importing them, and run inside the job, where the folder is mounted read-only."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys

import pytest
from methods_helpers import methods_folder

from cwmb import runner
from cwmb.errors import CwmbError

FIXED_PROGRAM = "class Environment:\n    FROM_FOLDER = True\n"

# A method that answers with a fixed program and says where it ran.
FIXED_METHOD = f"""
import os

PROGRAM = {FIXED_PROGRAM!r}


def run(task):
    return PROGRAM + "# found in " + os.environ["CWMB_METHODS_PATH"] + "\\n"
"""

# A module whose import leaves a mark: the host must never import a method.
LOUD_METHOD = """
Path(__file__).with_name("imported-on-host").write_text("x")

def run(task):
    return ""
"""


@pytest.fixture()
def methods(tmp_path, monkeypatch):
    files = {
        "fixed_answer.py": FIXED_METHOD,
        "loud.py": LOUD_METHOD,
        "packaged/__init__.py": "from .impl import run\n",
        "packaged/impl.py": "def run(task):\n    return 'packaged'\n",
    }
    return methods_folder(tmp_path / "methods", monkeypatch, files)


def test_folder_methods_are_known_and_checked_without_import(methods):
    assert {"fixed-answer", "loud", "packaged"} <= set(runner.known_methods())
    runner.check_method("loud")
    assert not (methods / "imported-on-host").exists()
    assert runner.load_runner("packaged")(None) == "packaged"  # type: ignore[arg-type]


def test_a_folder_method_cannot_take_a_builtin_name(methods):
    (methods / "null.py").write_text("def run(task):\n    return ''\n")
    with pytest.raises(CwmbError, match="name of a built-in method"):
        runner.check_method("null")


def test_a_missing_methods_folder_is_one_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv(runner.METHODS_PATH_VARIABLE, str(tmp_path / "nowhere"))
    with pytest.raises(CwmbError, match="is not a folder"):
        runner.known_methods()


@pytest.mark.parametrize("isolation", ["process", pytest.param("docker", marks=pytest.mark.docker)])
def test_bench_runs_a_method_from_the_folder_inside_the_job(methods, tmp_path, isolation):
    out = tmp_path / "out"
    command = [sys.executable, "-m", "cwmb.cli", "bench", "--method", "fixed-answer",
               "--model", "openai/scripted", "--model-base-url", "http://127.0.0.1:9/v1",
               "--budget", "1", "--episodes", "1", "--envs", "Blackjack-v1",
               "--isolation", isolation, "--out", str(out), "--run-id", "run",
               "--no-report"]  # fmt: skip
    env = {**os.environ, "CWMB_CACHE_DIR": str(tmp_path / "cache"),
           "OPENAI_API_KEY": "sk-test", runner.METHODS_PATH_VARIABLE: str(methods)}  # fmt: skip
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    job = out / "run" / "fixed-answer" / "Blackjack-v1" / "seed0"
    # Both launchers mount the folder at the same place.
    assert (job / "program.py").read_text() == FIXED_PROGRAM + "# found in /methods\n"
    row = next(csv.DictReader((out / "run" / "summary.csv").open()))
    assert row["method"] == "fixed-answer" and row["llm_calls"] == "0"
    assert not (methods / "imported-on-host").exists()
    json.loads((job / "score.json").read_text())  # the host scored it
