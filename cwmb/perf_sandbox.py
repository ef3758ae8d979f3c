"""Sandbox overhead, measured side by side in one run (part of `make perf`):

- opening a session and scoring a trivial program (`process`, `docker`);
- latency of one request on a warm session;
- scoring the CartPole reference on its train split: sandboxed vs in-process (target <= 1.3);
- planning with the CartPole reference: sandboxed vs in-process (target <= 1.1).

"In-process" runs the very same worker code (conversions included) in this process, without a
sandbox: the difference is exactly what isolation costs. It is for measuring only: untrusted
programs never run in the harness process."""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from typing import Any

from cwmb import registry
from cwmb.dataset import load_split
from cwmb.evaluation import predict, program_formats
from cwmb.formats import to_plain
from cwmb.planning.episodes import planner_request
from cwmb.planning.presets import get_preset
from cwmb.sandbox.base import Executor, Limits, ProgramFormats, SandboxError, Session
from cwmb.sandbox.process import ProcessExecutor
from cwmb.sandbox.worker import Worker
from cwmb.scoring import score

ENV_ID = "CartPole-v1"
TRIVIAL = """
class Environment:
    def set_state(self, state):
        self.state = state

    def step(self, action):
        return self.state, 1.0, False
"""
PLAN_STEPS = 40
PAUSE = {"docker-warm": 3.0}  # idle time before each measured open, so the spare is ready


class InProcessSession:
    """The worker's code called directly (trusted programs only: this is a measuring stick)."""

    def __init__(self, source: str, formats: ProgramFormats):
        self.worker = Worker()
        answer = self.worker.load(source, formats.observation, formats.action)
        if not answer["ok"]:
            raise SandboxError(answer["error"])

    def step_batch(self, states: list[Any], actions: list[Any]) -> list[dict[str, Any]]:
        predictions: list[dict[str, Any]] = self.worker.step_batch(states, actions)["predictions"]
        return predictions

    def plan(self, state: Any, planner: dict[str, Any], seed: int) -> Any:
        return self.worker.plan(state, planner, seed)["action"]

    def close(self) -> None:
        pass

    def __enter__(self) -> InProcessSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class InProcessExecutor:
    name = "in-process"
    isolation_note = "none (measuring only)"

    def open(
        self,
        source: str,
        formats: ProgramFormats,
        limits: Limits | None = None,
        profile: str = "program",
    ) -> InProcessSession:
        return InProcessSession(source, formats)


def _median(run: Callable[[], object], repeats: int, pause: float = 0.0) -> float:
    """Median wall time of `run`; `pause` seconds of idle time before each (not counted)."""
    times = []
    for _ in range(repeats):
        time.sleep(pause)
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _side_by_side(jobs: dict[str, Callable[[], object]], rounds: int) -> dict[str, float]:
    """Median wall time of each job, run in turns (round robin), so that load from other work
    on the machine falls on all of them alike."""
    times: dict[str, list[float]] = {name: [] for name in jobs}
    for job in jobs.values():
        job()  # warm-up, not counted
    for _ in range(rounds):
        for name, job in jobs.items():
            time.sleep(PAUSE.get(name, 0.0))
            start = time.perf_counter()
            job()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def _cpu_seconds(pid: int) -> float:
    """CPU time (user + system) used so far by process `pid`."""
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _executors() -> dict[str, Executor]:
    executors: dict[str, Executor] = {"process": ProcessExecutor()}
    from cwmb.sandbox.docker_backend import DockerExecutor, docker_problem

    problem = docker_problem()
    if problem is None:
        executors["docker"] = DockerExecutor()
        # A started container kept in reserve: what a caller opening many sessions can get.
        executors["docker-warm"] = DockerExecutor(prewarm=True)
    else:
        print(f"docker: not measured ({problem})")
    return executors


def open_and_score(executor: Executor, spec: registry.EnvSpec) -> Callable[[], object]:
    data = load_split(spec, "train").select(slice(0, 1))

    def run() -> object:
        with executor.open(TRIVIAL, program_formats(spec)) as session:
            return predict(session, data)

    return run


def warm_request_ms(executor: Executor, spec: registry.EnvSpec, repeats: int) -> float:
    state, action = [0.0] * 4, 0
    with executor.open(TRIVIAL, program_formats(spec)) as session:
        session.step_batch([state], [action])
        return 1000 * _median(lambda: session.step_batch([state], [action]), repeats)


def score_reference(executor: Executor, spec: registry.EnvSpec) -> Callable[[], object]:
    """What `cwmb score --split train` does: open, predict every transition, score, close."""
    data = load_split(spec, "train")
    source = spec.reference_source()

    def run() -> object:
        with executor.open(source, program_formats(spec)) as session:
            result = score(spec, data, predict(session, data))
        assert result.solved, result
        return result

    return run


def plan_reference(executor: Executor, spec: registry.EnvSpec) -> Callable[[], object]:
    """PLAN_STEPS planner calls from recorded states, in one open session."""
    data = load_split(spec, "train")
    states = [to_plain(s) for s in data.obs[:PLAN_STEPS]]
    request = planner_request(spec, get_preset("default"))
    session: Session = executor.open(spec.reference_source(), program_formats(spec))

    def run() -> object:
        return [session.plan(state, request, seed) for seed, state in enumerate(states)]

    run.session = session  # type: ignore[attr-defined]
    return run


def run() -> dict[str, Any]:
    spec = registry.get(ENV_ID)
    executors = _executors()
    inproc = InProcessExecutor()
    results: dict[str, Any] = {}

    print("open a session + score a trivial program (1 transition) + close:")
    for name, executor in executors.items():
        job = open_and_score(executor, spec)
        start = time.perf_counter()
        job()  # the first one starts the fork server / inspects the image
        first = time.perf_counter() - start
        median = _median(job, 10 if name == "process" else 5, PAUSE.get(name, 0.0))
        target = 0.05 if name == "process" else 1.0
        results[f"open_score_{name}_s"] = median
        print(
            f"  {name:<11} {1000 * median:8.1f} ms median (target <= {1000 * target:.0f} ms); "
            f"first {1000 * first:.0f} ms (one-time start-up)"
        )

    print("one request on a warm session (step 1 transition):")
    for name, executor in executors.items():
        if name == "docker-warm":
            continue
        ms = warm_request_ms(executor, spec, 200 if name == "process" else 100)
        results[f"request_{name}_ms"] = ms
        print(f"  {name:<11} {ms:8.2f} ms median (target <= 20 ms)")

    n = len(load_split(spec, "train"))
    print(f"scoring the {ENV_ID} reference on train ({n} transitions), open to close:")
    contenders = {"in-process": inproc, **executors}
    jobs = {name: score_reference(executor, spec) for name, executor in contenders.items()}
    times = _side_by_side(jobs, 7)
    base = times.pop("in-process")
    results["score_inprocess_s"] = base
    print(f"  {'in-process':<11} {1000 * base:8.1f} ms")
    for name, seconds in times.items():
        results[f"score_{name}_s"] = seconds
        results[f"score_ratio_{name}"] = seconds / base
        print(
            f"  {name:<11} {1000 * seconds:8.1f} ms   ratio {seconds / base:5.2f} (target <= 1.3)"
        )

    print(f"planning with the {ENV_ID} reference ({PLAN_STEPS} planner calls, default preset):")
    contenders.pop("docker-warm", None)  # one session for all calls: nothing to pre-start
    jobs = {name: plan_reference(executor, spec) for name, executor in contenders.items()}
    try:
        times = _side_by_side(jobs, 5)
        # CPU time as well: the same computation in another process, which load on the
        # machine does not inflate the way it inflates wall-clock hand-overs.
        start = time.process_time()
        jobs["in-process"]()
        inproc_cpu = time.process_time() - start
        pid = jobs["process"].session.worker.pid  # type: ignore[attr-defined]
        before = _cpu_seconds(pid)
        jobs["process"]()
        worker_cpu = _cpu_seconds(pid) - before
    finally:
        for job in jobs.values():
            job.session.close()  # type: ignore[attr-defined]
    base = times.pop("in-process")
    results["plan_inprocess_s"] = base
    print(f"  {'in-process':<11} {1000 * base:8.1f} ms")
    for name, seconds in times.items():
        results[f"plan_{name}_s"] = seconds
        results[f"plan_ratio_{name}"] = seconds / base
        print(
            f"  {name:<11} {1000 * seconds:8.1f} ms   ratio {seconds / base:5.2f} (target <= 1.1)"
        )
    results["plan_cpu_ratio_process"] = worker_cpu / inproc_cpu
    print(
        f"  CPU time of one run: in-process {1000 * inproc_cpu:.0f} ms, process sandbox worker "
        f"{1000 * worker_cpu:.0f} ms (ratio {worker_cpu / inproc_cpu:.2f})"
    )
    for executor in executors.values():
        shutdown = getattr(executor, "shutdown", None)
        if shutdown:
            shutdown()
    return results


if __name__ == "__main__":
    run()
