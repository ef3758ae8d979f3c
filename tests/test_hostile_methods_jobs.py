"""Hostile methods against what a job can see and reach (issue 10, deliverables 2 and 3).

One real bench per isolation runs every `tests/hostile_methods/jobs_*.py` method on Blackjack-v1
through CWMB_METHODS_PATH, started the way a user starts it: under a shell that holds the API key
in its environment (as `make` and `uv run` do). `process-user` is the process launcher as an
ordinary user (uid 1000 of a user namespace made by `unshare`, when the tests run as root): the
job keeps the bench's uid and gets its namespaces from a user namespace, and every attack must
still fail. Each method logs what its attack found as a
`probe {...}` line in its log.txt; each test asserts that the attack found nothing, that the host
recorded the real (null program's) score, and that nothing was left behind."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from cwmb.llm.scripted import ScriptedLLM

HOSTILE = Path(__file__).parent / "hostile_methods"
METHODS = sorted(p.stem for p in HOSTILE.glob("jobs_*.py"))
ENV = "Blackjack-v1"
API_KEY = "sk-hostile-methods-jobs-0123456789"
AS_USER = ["unshare", "--map-user=1000", "--map-group=1000"]  # a bench run by an ordinary user
DAEMON_MARKER = "cwmb-hostile-setsid-daemon"


@dataclass
class Bench:
    isolation: str
    root: Path
    upstream_calls: int
    stderr: str

    def job(self, method: str) -> Path:
        return self.root / method.replace("_", "-") / ENV / "seed0"

    def probe(self, method: str) -> dict[str, Any]:
        """What the method's attack found, as it logged it."""
        log = (self.job(method) / "log.txt").read_text()
        lines = [line for line in log.splitlines() if "] probe " in line]
        assert lines, f"{method} logged no probe:\n{log[-2000:]}"
        return dict(json.loads(lines[-1].split("] probe ", 1)[1]))

    def score(self, method: str) -> dict[str, Any]:
        return dict(json.loads((self.job(method) / "score.json").read_text()))

    def row(self, method: str) -> dict[str, str]:
        rows = csv.DictReader((self.root / "summary.csv").open())
        return next(r for r in rows if r["method"] == method.replace("_", "-"))


def _host_processes_with(marker: str) -> list[str]:
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if marker.encode() in cmdline and pid != str(os.getpid()):
            found.append(pid)
    return found


def _run_bench(isolation: str, tmp: Path) -> Bench:
    methods = tmp / "methods"
    methods.mkdir()
    for name in METHODS:
        shutil.copy(HOSTILE / f"{name}.py", methods)
    out = tmp / "out"
    with ScriptedLLM() as upstream:
        (methods / "jobs_target.json").write_text(json.dumps({"upstream": upstream.base_url}))
        launcher = "process" if isolation == "process-user" else isolation
        prefix = AS_USER if isolation == "process-user" else []
        command = [*prefix, sys.executable, "-m", "cwmb.cli", "bench", "--model", "openai/scripted",
                   "--model-base-url", upstream.base_url, "--budget", "1", "--episodes", "1",
                   "--envs", ENV, "--isolation", launcher, "--out", str(out), "--run-id", "run",
                   "--no-report"]  # fmt: skip
        for name in METHODS:
            command += ["--method", name.replace("_", "-")]
        # A parent shell that keeps the key in its environment (`; exit` stops it exec-ing).
        shell = ["sh", "-c", '"$@"; exit $?', "sh", *command]
        env = {**os.environ, "OPENAI_API_KEY": API_KEY, "CWMB_CACHE_DIR": str(tmp / "cache"),
               "CWMB_METHODS_PATH": str(methods)}  # fmt: skip
        result = subprocess.run(shell, env=env, capture_output=True, text=True, timeout=1200)
        calls = upstream.upstream_calls
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    return Bench(isolation, out / "run", calls, result.stderr)


@pytest.fixture(
    scope="module",
    params=[
        "process",
        pytest.param(
            "process-user",
            marks=pytest.mark.skipif(
                os.geteuid() != 0 or shutil.which("unshare") is None,
                reason="needs root to stand in for an ordinary user (as one, `process` is that)",
            ),
        ),
        pytest.param("docker", marks=pytest.mark.docker),
    ],
)
def bench(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Bench:
    return _run_bench(request.param, tmp_path_factory.mktemp(f"hostile-jobs-{request.param}"))


def test_every_hostile_job_gets_the_null_programs_real_score(bench: Bench) -> None:
    null_accuracy = None
    for method in METHODS:
        score = bench.score(method)
        assert score["status"] == "ok", (method, score.get("error"))
        assert score["llm_calls"] == 0 and score["capabilities"] == []
        accuracy = score["splits"]["heldout"]["accuracy"]
        assert accuracy < 0.9, (method, accuracy)  # the null program's, not the reference's
        assert null_accuracy in (None, accuracy)
        null_accuracy = accuracy
        assert bench.row(method)["capabilities"] == ""


def test_the_reference_is_unreadable_in_source_and_bytecode(bench: Bench) -> None:
    probe = bench.probe("jobs_read_reference_bytecode")
    assert probe == {"source_bytes": 0, "compiled": [], "env_cache": []}
    program = (bench.job("jobs_read_reference_bytecode") / "program.py").read_text()
    assert "marshal" not in program and "class Environment" in program


def test_the_simulators_cannot_be_imported_or_found(bench: Bench) -> None:
    probe = bench.probe("jobs_import_simulator")
    assert probe["gymnasium"].startswith("failed: AttributeError"), probe["gymnasium"]
    assert probe["mujoco"].startswith("failed: AttributeError"), probe["mujoco"]
    assert probe["files"] == []


def test_no_heldout_split_or_checkout_is_on_the_jobs_filesystem(bench: Bench) -> None:
    probe = bench.probe("jobs_find_heldout")
    assert probe["splits"] == ["/data/train.npz"]
    assert probe["checkouts"] == []
    assert set(probe["shipped"]) <= {"False", "CwmbError"}


def test_the_docker_socket_is_out_of_reach(bench: Bench) -> None:
    probe = bench.probe("jobs_docker_socket")
    # The gateway's socket is the one socket a job reaches (read-only mounted, and it answers).
    assert probe.pop("/run/cwmb-llm/llm.sock").startswith("answered")
    assert "/var/run/docker.sock" in probe
    assert all(result.startswith("failed") for result in probe.values()), probe


def test_no_network_and_no_direct_call_to_the_upstream_llm(bench: Bench) -> None:
    probe = bench.probe("jobs_network")
    assert all(result.startswith("failed") for result in probe.values()), probe
    assert bench.upstream_calls == 0


def test_no_process_environment_in_reach_holds_the_api_key(bench: Bench) -> None:
    probe = bench.probe("jobs_read_environ")
    assert probe["keys"] == []
    assert probe["readable"] >= 1  # it did read its own processes' environments
    for path in bench.job("jobs_read_environ").iterdir():
        assert API_KEY not in path.read_text(errors="replace"), path


def test_a_setsid_daemon_dies_with_its_job(bench: Bench) -> None:
    assert bench.probe("jobs_setsid_daemon")["daemon_pid"] > 0
    assert _host_processes_with(DAEMON_MARKER) == []


def test_process_jobs_say_how_they_were_confined(bench: Bench) -> None:
    manifest = json.loads((bench.root / "manifest.json").read_text())
    confinement = manifest["isolation"]["job_confinement"]
    if bench.isolation == "process" and os.geteuid() == 0 and sys.platform == "linux":
        # As root on Linux nothing may be missing.
        assert {"uid", "network", "pid", "filesystem"} <= set(confinement["features"])
        assert confinement["problems"] == []
        assert "jobs run as local processes, confined with" in bench.stderr
    if bench.isolation == "process-user":
        # Everything but a uid of its own, and the run says so in one line.
        assert {"network", "pid", "filesystem"} <= set(confinement["features"])
        assert confinement["problems"] == ["own uid: needs root"]
        [line] = [line for line in bench.stderr.splitlines() if "not enforced: uid" in line]
        assert line.startswith("cwmb: WARNING: jobs run as local processes")
    assert manifest["capabilities"] == {}
