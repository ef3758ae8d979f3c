"""Capabilities a method declares (cwmb.capabilities): read from its source without running it,
granted to its job by the declaration alone (never by its name), and recorded where a reader of
the results sees them."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from analysis.document import alerts, run_facts
from analysis.load import load_run
from cwmb import runner
from cwmb.capabilities import method_capabilities, parse_capabilities
from cwmb.errors import CwmbError
from cwmb.sandbox.job_view import withheld

# Any name: what it may read comes from its declaration. Importing it on the host leaves a mark.
PEEKING_METHOD = """
import contextlib
from pathlib import Path

with contextlib.suppress(OSError):  # the folder is read-only inside the job
    Path(__file__).with_name("imported-on-host").write_text("x")
CAPABILITIES = {"references"}


def run(task):
    return task.spec.reference_source()
"""


def test_a_declaration_is_a_literal_set_of_known_names():
    assert parse_capabilities('CAPABILITIES = {"references"}\n', "m.py") == {"references"}
    assert parse_capabilities("CAPABILITIES: set[str] = set()\n", "m.py") == frozenset()
    assert parse_capabilities("def run(task):\n    return ''\n", "m.py") == frozenset()
    with pytest.raises(CwmbError, match="unknown capability 'heldout'"):
        parse_capabilities('CAPABILITIES = {"heldout"}\n', "m.py")
    with pytest.raises(CwmbError, match="must be a literal set of strings"):
        parse_capabilities('CAPABILITIES = compute("references")\n', "m.py")
    with pytest.raises(CwmbError, match="not valid Python"):
        parse_capabilities("CAPABILITIES = {\n", "m.py")


def test_only_the_oracle_among_the_builtin_methods_declares_one():
    declared = {m: method_capabilities(m) for m in runner.known_methods()}
    assert {m: c for m, c in declared.items() if c} == {"oracle": {"references"}}


def test_the_references_capability_keeps_references_and_simulators_visible():
    fair, granted = withheld(), withheld({"references"})
    assert any(p.endswith("CartPole-v1/reference.py") for p in fair.files)
    assert any(p.endswith("Ant-v4/mask.py") for p in fair.files)
    assert any(p.endswith("CartPole-v1/__pycache__") for p in fair.folders)
    assert any(Path(p).name == "gymnasium" for p in fair.folders)
    assert any(Path(p).name.startswith("mujoco") for p in fair.folders)
    # Description files stay blank (a job gets its tier's as a file of its own).
    assert granted.files and all(Path(p).name.startswith("description") for p in granted.files)
    assert set(granted.files) < set(fair.files)
    # The datasets (held-out split included) stay withheld from every job.
    assert {Path(p).name for p in granted.folders} <= {"trajectories"}
    assert set(granted.folders) <= set(fair.folders)


@pytest.mark.parametrize("isolation", ["process", pytest.param("docker", marks=pytest.mark.docker)])
def test_a_declared_capability_is_granted_and_recorded(tmp_path, isolation):
    methods = tmp_path / "methods"
    methods.mkdir()
    (methods / "peek.py").write_text(PEEKING_METHOD)
    out = tmp_path / "out"
    command = [sys.executable, "-m", "cwmb.cli", "bench", "--method", "peek", "--method", "null",
               "--model", "openai/scripted", "--model-base-url", "http://127.0.0.1:9/v1",
               "--budget", "1", "--episodes", "1", "--envs", "Blackjack-v1",
               "--isolation", isolation, "--out", str(out), "--run-id", "run", "--no-report"]  # fmt: skip
    env = {**os.environ, "CWMB_CACHE_DIR": str(tmp_path / "cache"), "OPENAI_API_KEY": "sk-test",
           runner.METHODS_PATH_VARIABLE: str(methods)}  # fmt: skip
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert not (methods / "imported-on-host").exists()
    run = out / "run"
    score = json.loads((run / "peek" / "Blackjack-v1" / "seed0" / "score.json").read_text())
    assert score["capabilities"] == ["references"]
    assert score["splits"]["heldout"]["accuracy"] == 1.0  # it did read the reference
    rows = {r["method"]: r for r in csv.DictReader((run / "summary.csv").open())}
    assert rows["peek"]["capabilities"] == "references" and rows["null"]["capabilities"] == ""
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["capabilities"] == {"peek": ["references"]}
    loaded = load_run(run)
    assert dict(run_facts(loaded))["Declared capabilities"] == "peek references"
    assert any(
        line.startswith("peek declares the capabilities references") for line in alerts(loaded)
    )
