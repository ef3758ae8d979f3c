"""The sandbox backends: what the process backend applies (as root and as an unprivileged user),
the one-line notes about weaker isolation, and that sandboxed answers equal in-process ones."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from cwmb import registry
from cwmb.dataset import load_split
from cwmb.errors import CwmbError
from cwmb.evaluation import predict, program_formats
from cwmb.formats import to_plain
from cwmb.planning.episodes import planner_request
from cwmb.planning.presets import get_preset
from cwmb.sandbox import select
from cwmb.sandbox.process import FEATURE_WORDS, ForkServer, ProcessExecutor, describe_isolation
from cwmb.sandbox.worker import ONLY_STDLIB_AND_NUMPY, Worker

ENV_ID = "CartPole-v1"
HOSTILE = Path(__file__).parent / "hostile"


@pytest.fixture(scope="module")
def executor() -> Iterator[ProcessExecutor]:
    server = ForkServer()
    yield ProcessExecutor(server)
    server.shutdown()


@pytest.mark.skipif(os.geteuid() != 0, reason="the full set needs root")
def test_root_gets_every_confinement(executor: ProcessExecutor) -> None:
    assert set(executor.isolation["features"]) == set(FEATURE_WORDS)
    assert executor.complete
    assert "missing" not in executor.isolation_note


@pytest.mark.skipif(shutil.which("unshare") is None, reason="needs util-linux unshare")
def test_unprivileged_user_gets_namespaces_but_not_an_own_uid() -> None:
    """Run the process backend as a non-root user (a user namespace mapping us to uid 1000):
    it falls back to an unprivileged user namespace, says what is missing, and still builds a
    program's filesystem view (a simulator import is refused)."""
    script = textwrap.dedent(
        """
        import json, os
        from cwmb import registry
        from cwmb.evaluation import program_formats
        from cwmb.sandbox.base import SandboxError
        from cwmb.sandbox.process import ProcessExecutor
        executor = ProcessExecutor()
        formats = program_formats(registry.get("CartPole-v1"))
        try:
            executor.open("import gymnasium", formats).close()
            refused = "loaded"
        except SandboxError as exc:
            refused = str(exc)
        print(json.dumps({"uid": os.geteuid(), "isolation": executor.isolation,
                          "note": executor.isolation_note, "refused": refused}))
        """
    )
    probe = subprocess.run(
        ["unshare", "--user", "--map-user=1000", "--map-group=1000", "true"], capture_output=True
    )
    if probe.returncode != 0:
        pytest.skip(f"user namespaces unavailable here: {probe.stderr.decode().strip()}")
    result = subprocess.run(
        ["unshare", "--user", "--map-user=1000", "--map-group=1000", sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["uid"] == 1000
    features = set(report["isolation"]["features"])
    assert report["isolation"]["user_namespace"] is True
    assert {"rlimits", "network", "pid", "filesystem"} <= features
    assert "uid" not in features
    assert "missing: own uid" in report["note"]
    assert ONLY_STDLIB_AND_NUMPY in report["refused"]


def test_describe_isolation_lists_what_is_missing() -> None:
    text = describe_isolation({"features": ["rlimits", "uid"], "problems": ["unshare: EPERM"]})
    assert text.startswith("local process sandbox (rlimits, own uid)")
    assert "missing: no network, own process tree" in text and "unshare: EPERM" in text


class _Weak:
    name = "process"
    isolation_note = "local process sandbox (rlimits); missing: no network"
    complete = False


class _Full(_Weak):
    complete = True


def test_weaker_notes() -> None:
    note = select.weaker_note("auto", _Full(), "no Docker engine answers")
    assert note and "weaker than a container (no Docker engine answers)" in note
    assert select.weaker_note("process", _Full()) is None
    note = select.weaker_note("process", _Weak())
    assert note and note.startswith("cwmb: note: isolation is weaker than asked")
    docker = _Full()
    docker.name = "docker"
    assert select.weaker_note("auto", docker) is None
    assert all("\n" not in n for n in (select.weaker_note("process", _Weak()) or "",))


def test_get_executor_without_docker(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(select, "docker_problem", lambda: "no Docker engine answers")
    monkeypatch.setattr(select, "_noted", set())
    with pytest.raises(CwmbError, match="--isolation docker: no Docker engine answers"):
        select.get_executor("docker")
    executor = select.get_executor("auto")
    assert executor.name == "process"
    first = capsys.readouterr().err
    assert first.count("\n") == 1 and "weaker than a container" in first
    select.get_executor("auto")
    assert capsys.readouterr().err == ""  # once per process
    select.get_executor("auto", quiet=True)
    assert capsys.readouterr().err == ""
    with pytest.raises(CwmbError, match="unknown isolation"):
        select.get_executor("chroot")


def test_sandboxed_answers_equal_in_process(executor: ProcessExecutor) -> None:
    spec = registry.get(ENV_ID)
    data = load_split(spec, "train").select(slice(0, 300))
    source = spec.reference_source()
    formats = program_formats(spec)
    local = Worker()
    assert local.load(source, formats.observation, formats.action)["ok"]
    states = [to_plain(s) for s in data.obs]
    actions = [to_plain(a) for a in data.action]
    expected = local.step_batch(states, actions)["predictions"]
    with executor.open(source, formats) as session:
        assert predict(session, data) == expected
        request = planner_request(spec, get_preset("default"))
        for seed in range(3):
            planned = session.plan(states[seed], request, seed)
            assert planned == local.plan(states[seed], request, seed)["action"]


def test_fork_server_restarts_after_dying() -> None:
    server = ForkServer()
    executor = ProcessExecutor(server)
    spec = registry.get(ENV_ID)
    data = load_split(spec, "train").select(slice(0, 5))
    try:
        with executor.open(spec.reference_source(), program_formats(spec)) as session:
            predict(session, data)
        first = server.pid
        assert first is not None
        os.kill(first, signal.SIGKILL)
        with executor.open(spec.reference_source(), program_formats(spec)) as session:
            assert len(predict(session, data)) == 5
        assert server.pid != first
    finally:
        server.shutdown()


@pytest.mark.skipif(shutil.which("unshare") is None, reason="needs util-linux unshare")
def test_daemon_dies_without_namespaces_or_root() -> None:
    """The weakest setting (no namespaces, no root: inside a job container, say): a program's
    daemon is still killed at close, because the fork server is a child subreaper."""
    daemon = (HOSTILE / "daemon_escape.py").read_text()
    script = textwrap.dedent(
        f"""
        import json, os, sys
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from test_hostile import descendants
        from cwmb import registry
        from cwmb.dataset import load_split
        from cwmb.evaluation import predict, program_formats
        from cwmb.sandbox.process import ForkServer, ProcessExecutor
        server = ForkServer(namespaces=False)
        executor = ProcessExecutor(server)
        spec = registry.get("CartPole-v1")
        data = load_split(spec, "train").select(slice(0, 5))
        with executor.open({daemon!r}, program_formats(spec)) as session:
            predictions = predict(session, data)
            during = len(descendants(server.pid))
        spare = server.status()["spare"]
        after = [p for p in descendants(server.pid) if p != spare]
        print(json.dumps({{"features": executor.isolation["features"], "during": during,
                           "after": after, "ok": predictions[0]["error"] is None}}))
        server.shutdown()
        """
    )
    command = ["unshare", "--user", "--map-user=1000", "--map-group=1000", sys.executable, "-c"]
    if subprocess.run([*command[:4], "true"], capture_output=True).returncode != 0:
        pytest.skip("user namespaces unavailable here")
    result = subprocess.run(
        [*command, script], capture_output=True, text=True, timeout=120, cwd="/tmp"
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["features"] == ["rlimits"] and report["ok"]
    assert report["during"] >= 3  # the worker, the daemon, the spare
    assert report["after"] == []
