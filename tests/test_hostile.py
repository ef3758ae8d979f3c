"""The hostile-program suite: every program in tests/hostile/ attacks the harness one way, under
every backend. Each case asserts the concrete outcome (the program fails with a clear error, or
its answers are exactly what it really computed and score accordingly), that the harness
answered within its limit, and that nothing is left behind: no process, container or file."""

from __future__ import annotations

import hashlib
import math
import os
import re
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import sandbox_backends

import cwmb
from cwmb import registry
from cwmb.dataset import Transitions, load_split
from cwmb.evaluation import predict, program_formats, score_program
from cwmb.sandbox.base import Executor, Limits, SandboxError
from cwmb.sandbox.process import ForkServer, ProcessExecutor
from cwmb.sandbox.worker import ONLY_STDLIB_AND_NUMPY
from cwmb.scoring import score

backend = sandbox_backends.backend  # the fixture: every backend

HOSTILE = Path(__file__).parent / "hostile"
ENV_ID = "CartPole-v1"
N_TRANSITIONS = 50
LIMITS = Limits(
    wall_seconds=3,
    load_seconds=5,
    cpu_seconds=20,
    memory_mb=512,
    processes=32,
    file_size_mb=4,
    tmp_mb=8,
    output_mb=4,
)
SLACK = 5.0  # seconds the harness may take beyond a limit to kill and clean up
LISTEN_PORT = 47931  # network_access.py tries to reach the host here
MARKERS = [
    "/tmp/cwmb-hostile-escape",
    "/var/tmp/cwmb-hostile-escape",
    "/root/cwmb-hostile-escape",
    os.path.expanduser("~/cwmb-hostile-escape"),
    "/etc/cwmb-hostile-escape",
    str(Path(cwmb.__file__).parent / "cwmb-hostile-escape"),
    str(Path(cwmb.__file__).parents[1] / "cwmb-hostile-escape"),
    "/tmp/cwmb-hostile-daemon",
    "/tmp/cwmb-hostile-unpickled",
    "/tmp/cwmb-hostile-fill-0",
    "/tmp/cwmb-hostile-fill-1-0",
    "/var/tmp/cwmb-hostile-fill-3-0",
    "/dev/shm/cwmb-hostile-fill-2-0",
]


@dataclass
class Outcome:
    error: str | None = None
    predictions: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0
    stderr: str = ""


@dataclass
class Context:
    backend: str
    executor: Executor
    data: Transitions
    spec: registry.EnvSpec


def zeros(data: Transitions, reward: float = 0.0) -> list[dict[str, Any]]:
    return [
        {"next_state": [0.0] * 4, "reward": reward, "done": False, "error": None}
        for _ in range(len(data))
    ]


# -- fixtures ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def data() -> Transitions:
    spec = registry.get(ENV_ID)
    return load_split(spec, "train").select(slice(0, N_TRANSITIONS))


@pytest.fixture
def ctx(backend: tuple[str, Executor], data: Transitions) -> Iterator[Context]:
    name, executor = backend
    init = Path(cwmb.__file__)
    before = hashlib.sha256(init.read_bytes()).hexdigest()
    assert not _leftover_files(), "markers exist before the test"
    yield Context(name, executor, data, registry.get(ENV_ID))
    assert_nothing_left(name, executor)
    assert not _leftover_files()
    # write_outside.py appends to cwmb/__init__.py when it can
    assert hashlib.sha256(init.read_bytes()).hexdigest() == before, "cwmb was modified"


@pytest.fixture(scope="module", autouse=True)
def _no_stale_markers() -> None:
    """A marker left on disk by an earlier run (e.g. an interrupted one) would fail every test
    here. Remove markers nothing writes any more; a marker that is still being refreshed means a
    live escaped process, which must fail loudly instead."""
    stale = _leftover_files()
    if not stale:
        return
    before = {path: os.stat(path).st_mtime for path in stale}
    time.sleep(0.3)
    for path in stale:
        assert os.stat(path).st_mtime == before[path], f"{path} is still being written"
        os.unlink(path)


def _leftover_files() -> list[str]:
    return [path for path in MARKERS if os.path.lexists(path)]


def descendants(root: int) -> list[int]:
    """Every process below `root`. The fork server is a child subreaper and each sandbox is PID
    1 of its own namespace, so anything a program starts, daemons included, stays below it."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = [], [root]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, ppid in parents.items() if ppid == parent]
        found += children
        frontier += children
    return found


def _describe(pid: int) -> str:
    try:
        status = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return f"{pid}: gone"
    keep = ("Name", "State", "PPid", "NSpid", "Tgid")
    return f"{pid}: " + "; ".join(line for line in status if line.split(":")[0] in keep)


def assert_nothing_left(backend: str, executor: Executor) -> None:
    if backend == "docker":
        from cwmb.sandbox.docker_backend import DockerExecutor, leftover_containers

        # Only this executor's containers: a bench may be using the same engine meanwhile.
        assert isinstance(executor, DockerExecutor) and executor.started
        assert set(leftover_containers()) & set(executor.started) == set()
        return
    assert isinstance(executor, ProcessExecutor)
    server = executor.server
    assert server.pid is not None
    status = server.status()  # the server keeps one prepared sandbox ready: the spare
    spare = [status["spare"]] if status["spare"] else []
    assert status["sandboxes"] == spare
    left = [pid for pid in descendants(server.pid) if pid not in spare]
    assert left == [], ["a sandbox process outlived its session:", *map(_describe, left)]
    if server.base:  # one work folder per live sandbox (unused when it has its own /tmp)
        assert len([p for p in Path(server.base).glob("work-*")]) == len(spare)


def run(ctx: Context, name: str, limits: Limits = LIMITS) -> Outcome:
    source = (HOSTILE / f"{name}.py").read_text()
    outcome = Outcome()
    start = time.monotonic()
    try:
        with ctx.executor.open(source, program_formats(ctx.spec), limits) as session:
            outcome.predictions = predict(session, ctx.data)
            outcome.stderr = session.stderr_tail(100_000)
    except SandboxError as exc:
        outcome.error = str(exc)
    outcome.seconds = time.monotonic() - start
    return outcome


# -- what each attack must come to ------------------------------------------------------------
def fails_with(*texts: str, within: float) -> Callable[[Context, Outcome], None]:
    def check(ctx: Context, outcome: Outcome) -> None:
        assert outcome.error is not None, "the attack should have failed"
        assert any(text in outcome.error for text in texts), outcome.error
        assert outcome.seconds < within + SLACK

    return check


def every_prediction_fails(text: str) -> Callable[[Context, Outcome], None]:
    def check(ctx: Context, outcome: Outcome) -> None:
        assert outcome.error is None, outcome.error
        assert len(outcome.predictions) == len(ctx.data)
        assert all(text in (p["error"] or "") for p in outcome.predictions)
        result = score(ctx.spec, ctx.data, outcome.predictions)
        assert result.accuracy == 0.0 and result.n_errors == len(ctx.data)

    return check


def honest_zeros(reward_check: Callable[[float], bool] = lambda r: r == 0.0):
    """The program answered zeros (its report in the reward passes `reward_check`) and scores
    exactly what zeros score."""

    def check(ctx: Context, outcome: Outcome) -> None:
        assert outcome.error is None, outcome.error
        rewards = {p["reward"] for p in outcome.predictions}
        assert len(rewards) == 1
        reward = rewards.pop()
        assert reward_check(reward), reward
        assert outcome.predictions == zeros(ctx.data, reward)
        expected = score(ctx.spec, ctx.data, zeros(ctx.data, reward))
        assert score(ctx.spec, ctx.data, outcome.predictions) == expected

    return check


def timed_out(what: str, limit: float) -> Callable[[Context, Outcome], None]:
    return fails_with(f"did not {what} within {limit:g} s", within=limit)


def check_memory(ctx: Context, outcome: Outcome) -> None:
    # The address-space limit turns the allocation into a MemoryError on every step.
    every_prediction_fails("MemoryError")(ctx, outcome)


def check_flood(ctx: Context, outcome: Outcome) -> None:
    honest_zeros()(ctx, outcome)
    assert "spam" in outcome.stderr and len(outcome.stderr) <= 64 * 1024


def check_lying_float(ctx: Context, outcome: Outcome) -> None:
    assert outcome.error is None, outcome.error
    # The plain values crossed: 0.0 (whatever its repr claimed) and the integer 0 for done,
    # which is not a boolean and so never counts as a right `done`.
    assert all(
        p["next_state"] == [0.0] * 4 and p["reward"] == 0.0 and p["done"] == 0
        for p in outcome.predictions
    )
    assert all(type(p["done"]) is int for p in outcome.predictions)
    result = score(ctx.spec, ctx.data, outcome.predictions)
    assert result.done_accuracy == 0.0
    plain = [{**p, "done": 0} for p in zeros(ctx.data)]
    assert result == score(ctx.spec, ctx.data, plain)


def check_nan(ctx: Context, outcome: Outcome) -> None:
    assert outcome.error is None, outcome.error
    first = outcome.predictions[0]
    assert math.isnan(first["next_state"][0]) and first["next_state"][1] == math.inf
    assert math.isnan(first["reward"]) and math.isnan(first["done"])
    result = score(ctx.spec, ctx.data, outcome.predictions)
    assert result.accuracy == 0.0
    assert result.state_accuracy == result.reward_accuracy == result.done_accuracy == 0.0


def check_secrets(ctx: Context, outcome: Outcome) -> None:
    assert outcome.error is None, outcome.error
    found, variables = outcome.predictions[0]["next_state"][:2]
    assert found == 0.0, "the program found the API key"
    assert variables <= 12  # a handful of fixed variables (PATH, LANG, thread counts, HOME)


def check_heldout(ctx: Context, outcome: Outcome) -> None:
    assert outcome.error is None, outcome.error
    heldout, trajectory_dirs, _npz, scanned = outcome.predictions[0]["next_state"]
    assert scanned > 100  # it really searched
    assert heldout == 0.0 and trajectory_dirs == 0.0


def check_steal(ctx: Context, outcome: Outcome) -> None:
    # The shipped reference is blanked inside the sandbox: the thief falls back to zeros.
    honest_zeros()(ctx, outcome)
    assert score(ctx.spec, ctx.data, outcome.predictions).accuracy < 0.5


def reports_nothing_found(searched_at_least: int) -> Callable[[Context, Outcome], None]:
    """The program reported [simulator things it got, places it searched, 0, 0]."""

    def check(ctx: Context, outcome: Outcome) -> None:
        assert outcome.error is None, outcome.error
        got, searched = outcome.predictions[0]["next_state"][:2]
        assert got == 0.0, "the program reached a simulator file"
        assert searched >= searched_at_least  # it really looked

    return check


def check_ctypes(ctx: Context, outcome: Outcome) -> None:
    reports_nothing_found(0)(ctx, outcome)
    assert outcome.predictions[0]["next_state"][1] == 0.0, "a libmujoco file is visible"


NOT_ALLOWED = fails_with(ONLY_STDLIB_AND_NUMPY, within=LIMITS.load_seconds)


def check_descriptions(ctx: Context, outcome: Outcome) -> None:
    # A program's sandbox holds no environment package at all: no description file to find.
    assert outcome.error is None, outcome.error
    found, read, _, _ = outcome.predictions[0]["next_state"]
    assert found == 0.0 and read == 0.0


CASES: dict[str, Callable[[Context, Outcome], None]] = {
    # Simulators, in several disguises: not on the program's filesystem at all.
    "import_gymnasium": NOT_ALLOWED,
    "import_by_name": NOT_ALLOWED,
    "import_true_env": NOT_ALLOWED,
    "sys_path_site_packages": NOT_ALLOWED,
    "read_simulator_files": reports_nothing_found(10),
    "exec_source_from_disk": honest_zeros(),  # the reward counts the sources it found
    "ctypes_libmujoco": check_ctypes,
    "endless_loop": timed_out("step a batch", LIMITS.wall_seconds),
    "endless_loop_ignoring_signals": timed_out("step a batch", LIMITS.wall_seconds),
    "endless_load": timed_out("load the program", LIMITS.load_seconds),
    "memory_bomb": check_memory,
    "memory_creep": check_memory,
    "fork_bomb": honest_zeros(lambda created: 0 < created < LIMITS.processes),
    "fill_disk": honest_zeros(lambda mb: 0 < mb <= 2 * LIMITS.tmp_mb + 2),
    "flood_output": check_flood,
    "busy_threads": honest_zeros(),
    "network_access": honest_zeros(),  # the reward counts connections that got through
    "write_outside": honest_zeros(lambda writes: writes < 100),  # no write to cwmb itself
    "read_secrets": check_secrets,
    "kill_parent": honest_zeros(),
    "daemon_escape": honest_zeros(),
    "segfault": fails_with("segmentation fault", within=LIMITS.wall_seconds),
    "deep_recursion": fails_with(
        "did not step a batch", "MemoryError", "ended unexpectedly", within=LIMITS.wall_seconds
    ),
    "exit_in_step": every_prediction_fails("SystemExit"),
    "os_exit_in_step": fails_with("ended unexpectedly (exit status 0)", within=1.0),
    "lying_eq": every_prediction_fails("unsupported value of type Liar"),
    "lying_float": check_lying_float,
    "lying_ndarray": honest_zeros(),  # its tolist() lied; the worker sent the real content
    "monkeypatch_numpy": honest_zeros(),
    "nan_predictions": check_nan,
    "pickle_payload": every_prediction_fails("unsupported value of type"),
    "search_heldout": check_heldout,
    "steal_reference": check_steal,
    "read_descriptions": check_descriptions,
    "huge_answer": fails_with(f"answer exceeded {LIMITS.output_mb} MB", within=LIMITS.wall_seconds),
    "forge_packed_pickle": fails_with("bad answer to step_batch", within=1),
    "forge_protocol": fails_with(
        "bad answer to step_batch", "broke the sandbox protocol", within=1
    ),
    "break_builtins": fails_with(
        "ended unexpectedly", "bad answer", "broke the sandbox", "not 2: a stale image", within=1
    ),
}


def test_every_hostile_program_has_a_case() -> None:
    programs = {path.stem for path in HOSTILE.glob("*.py")}
    assert programs == set(CASES)
    assert len(programs) >= 27


@pytest.mark.parametrize("name", sorted(CASES))
def test_hostile(ctx: Context, name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    original_isclose = np.isclose
    with socket.create_server(("127.0.0.1", LISTEN_PORT), reuse_port=True) as listener:
        listener.setblocking(False)
        outcome = run(ctx, name)
        with pytest.raises(BlockingIOError):
            listener.accept()  # nobody from a sandbox ever connected
    CASES[name](ctx, outcome)
    assert np.isclose is original_isclose


def test_secret_in_host_environment_never_reaches_the_program(
    backend: tuple[str, Executor], data: Transitions, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a (fake) key in the host's environment when the sandbox machinery starts."""
    name, executor = backend
    monkeypatch.setenv("OPENAI_API_KEY", "sk-cwmb-fake-key-for-the-hostile-suite")
    monkeypatch.setenv("CWMB_SECRET_TOKEN", "sk-cwmb-another-fake")
    server = None
    if name == "process":
        server = ForkServer()  # started now, under the environment that holds the key
        executor = ProcessExecutor(server)
    ctx = Context(name, executor, data, registry.get(ENV_ID))
    try:
        check_secrets(ctx, run(ctx, "read_secrets"))
    finally:
        if server:
            server.shutdown()


def test_kill_parent_leaves_the_harness_working(ctx: Context) -> None:
    server = ctx.executor.server if isinstance(ctx.executor, ProcessExecutor) else None
    server_pid = server.pid if server else None
    honest_zeros()(ctx, run(ctx, "kill_parent"))
    assert server is None or server.pid == server_pid  # the fork server survived
    honest_zeros()(ctx, run(ctx, "busy_threads"))  # the next session works as usual


def test_failing_program_scores_zero_with_the_error(ctx: Context) -> None:
    """score_program (what `cwmb score` runs) turns a dead sandbox into a zero score."""
    source = (HOSTILE / "os_exit_in_step.py").read_text()
    scores = score_program(ctx.spec, source, ["train"], ctx.executor, LIMITS)
    assert scores["train"].accuracy == 0.0
    assert "exit status 0" in (scores["train"].error or "")


# The one exception: the one-off converter of the authors' published buffers, whose Unpickler
# admits only numpy's array builders (tests/test_paper_split.py feeds it hostile pickles).
PICKLE_READERS = {"paper_buffers.py"}


def test_no_pickle_path() -> None:
    """Nothing on the trusted side can unpickle: no pickle import (but the allow-listed buffer
    converter), every np.load refuses it."""
    for path in Path(cwmb.__file__).parent.rglob("*.py"):
        text = path.read_text()
        if path.name not in PICKLE_READERS:
            assert "import pickle" not in text and "from pickle" not in text, path
        assert "allow_pickle=True" not in text, path
        for call in re.finditer(r"np\.load\(", text):
            assert "allow_pickle=False" in text[call.end() : call.end() + 200], path


# -- the process backend without namespaces (machines that allow none) -------------------------
DEGRADED_CASES = {
    # Not PID 1 of a namespace any more: killpg(getpgrp()) takes the worker itself down.
    "kill_parent": fails_with("ended unexpectedly (killed", within=1.0),
    "daemon_escape": CASES["daemon_escape"],
    "fork_bomb": CASES["fork_bomb"],
    "endless_loop": CASES["endless_loop"],
    "segfault": CASES["segfault"],
}


@pytest.fixture(scope="module")
def degraded() -> Iterator[ProcessExecutor]:
    server = ForkServer(namespaces=False)
    yield ProcessExecutor(server)
    server.shutdown()


@pytest.mark.skipif(os.geteuid() != 0, reason="the uid-based clean-up needs root")
@pytest.mark.parametrize("name", sorted(DEGRADED_CASES))
def test_hostile_without_namespaces(
    degraded: ProcessExecutor, data: Transitions, name: str
) -> None:
    assert not degraded.complete and "missing" in degraded.isolation_note
    ctx = Context("process", degraded, data, registry.get(ENV_ID))
    server_pid = degraded.server.pid
    DEGRADED_CASES[name](ctx, run(ctx, name))
    assert degraded.server.pid == server_pid
    assert_nothing_left("process", degraded)
    # Without a private /tmp the daemon could write here, but it must be dead now.
    marker = Path("/tmp/cwmb-hostile-daemon")
    if marker.exists():
        before = marker.stat().st_mtime
        time.sleep(0.3)
        assert marker.stat().st_mtime == before, "the daemon is still running"
        marker.unlink()
