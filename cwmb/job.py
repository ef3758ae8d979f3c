"""One job: one method on one environment with one seed, run inside its container or as a process.

Command line (stable; the host-side bench launches exactly this):

    cwmb job --method M --env ENV --seed K --budget B --out DIR
             [--train PATH] [--descriptions TIER] [--description-file PATH]
             [--llm-url URL | --llm-socket PATH] [--llm-token TOKEN] [--model PROVIDER/NAME]
             [--method-arg KEY=VALUE ...]

A job needs only the train split (`--train`, default: the shipped file), the description of its
tier (`--description-file`, default: the shipped text of `--descriptions`, standard unless told;
inside a job container the shipped texts are blanked and the host mounts the one it chose), the
LLM gateway's address
(`--llm-url`/`--llm-socket`, default: $CWMB_LLM_URL/$CWMB_LLM_SOCKET) with the job's token
(`--llm-token`, default: $CWMB_LLM_TOKEN) and its output folder. It never reads the held-out
split and never sees an API key. Candidate programs are scored in sandbox child processes.
`--method-arg` sets the method's options (cwmb.method_options): they are checked against its
`Options` dataclass here, inside the job, before anything is written, and the method gets the
instance as `task.options`.

It writes into DIR:
- `program.py`  — the best program the method returned (empty if it found none);
- `trace.jsonl` — every LLM call and evaluation, in order, plus the method's own events
                  (written as `trace.jsonl.part` while the job runs, renamed at the end);
- `log.txt`     — a readable log (likewise `log.txt.part` while running);
- `job.json`    — written last: status ("ok" or "error"), error, method, env, seed, budget,
                  LLM calls used, whether the budget ran out, train accuracy of program.py when
                  the job scored it, the description tier, the method's options (all of
                  them, resolved), sha256 of the description given, of program.py and of the
                  train file, wall time.
A runner that raises still leaves the best program it evaluated in `program.py`.
Exit status: 0 when the job ran to the end (status "ok"), 1 when the runner failed, 2 for a
usage error (bad method, environment or file), reported on one line."""

from __future__ import annotations

import hashlib
import json
import os
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from cwmb import method_options, registry
from cwmb.dataset import Transitions, atomic_write_bytes, load_split, read_npz, sha256_file
from cwmb.errors import CwmbError, DatasetError
from cwmb.llm.errors import BudgetExhausted
from cwmb.runner import ChatModel, Runner, SandboxEvaluator, Task, TaskLLM, load_method
from cwmb.sandbox.select import get_executor
from cwmb.trace import TraceWriter

OUTPUT_FILES = ("program.py", "trace.jsonl", "log.txt", "job.json")


@dataclass(frozen=True)
class JobConfig:
    method: str
    env_id: str
    seed: int
    budget: int
    out: Path
    train: Path | None = None
    descriptions: str = registry.DEFAULT_DESCRIPTION_TIER
    description_file: Path | None = None  # the tier's text as the host hands it
    llm_url: str | None = None
    llm_socket: str | None = None
    llm_token: str | None = None
    model: str | None = None
    isolation: str = "process"  # how candidates run inside the job
    method_args: tuple[str, ...] = ()  # KEY=VALUE strings for the method's options


@dataclass(frozen=True)
class JobResult:
    status: str  # "ok" or "error"
    error: str | None
    program: str
    calls: int
    wall_seconds: float
    info: dict[str, Any]


class JobLog:
    """log.txt of a job (also echoed to `echo`, e.g. stderr, when given)."""

    def __init__(self, path: Path, echo: TextIO | None = None):
        self._handle = path.open("w", encoding="utf-8")
        self._echo = echo
        self._start = time.monotonic()

    def __call__(self, message: str) -> None:
        line = f"[{time.monotonic() - self._start:8.1f}s] {message}"
        self._handle.write(line + "\n")
        self._handle.flush()
        if self._echo is not None:
            print(line, file=self._echo, flush=True)

    def close(self) -> None:
        self._handle.close()


def connect_llm(config: JobConfig) -> ChatModel | None:
    """The gateway client of the job, or None when no gateway address is known."""
    from cwmb.llm.client import SOCKET_ENV, TOKEN_ENV, URL_ENV, LlmClient
    from cwmb.llm.models import DEFAULT_MODEL, MODEL_ENV

    socket_path = config.llm_socket or (None if config.llm_url else os.environ.get(SOCKET_ENV))
    url = config.llm_url or (None if socket_path else os.environ.get(URL_ENV))
    if not socket_path and not url:
        return None
    token = config.llm_token or os.environ.get(TOKEN_ENV)
    model = config.model or os.environ.get(MODEL_ENV) or DEFAULT_MODEL
    return LlmClient(model, socket_path=socket_path or None, base_url=url or None, api_key=token)


def load_train(config: JobConfig, spec: registry.EnvSpec) -> tuple[Transitions, Path]:
    """The train split: the file given, or the shipped one (checked against env.toml)."""
    if config.train is None:
        return load_split(spec, "train"), spec.split_path("train")
    data = read_npz(config.train)
    for name, fmt in (("obs", spec.observation), ("action", spec.action)):
        shape = tuple(getattr(data, name).shape[1:])
        if shape != fmt.shape:
            raise DatasetError(
                f"{config.train} does not hold {spec.id} transitions: {name} has shape {shape}, "
                f"expected {fmt.shape}"
            )
    return data, config.train


def load_description(config: JobConfig, spec: registry.EnvSpec) -> tuple[str, Path]:
    """The description the method gets: the file given, or the shipped text of the tier."""
    path = config.description_file or spec.description_file(config.descriptions)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CwmbError(f"cannot read the description {path}: {exc}") from exc
    if not text.strip():
        raise CwmbError(f"the description {path} is empty")
    return text, path


def run_job(
    config: JobConfig, llm: ChatModel | None = None, echo: TextIO | None = None
) -> JobResult:
    """Run one job and write its outputs; `llm` overrides the gateway client (tests)."""
    started = time.monotonic()
    spec = registry.get(config.env_id)
    loaded = load_method(config.method)
    given = method_options.parse_assignments(config.method_args)
    resolved = method_options.resolve(
        config.method, method_options.options_of_class(loaded.options_class), given
    )
    options = method_options.instantiate(config.method, loaded.options_class, resolved)
    if config.budget < 0:
        raise CwmbError(f"--budget must be >= 0, got {config.budget}")
    train, train_path = load_train(config, spec)
    description, description_path = load_description(config, spec)
    out = config.out
    out.mkdir(parents=True, exist_ok=True)
    for name in OUTPUT_FILES:  # a rerun replaces a previous attempt's files
        (out / name).unlink(missing_ok=True)
    executor = get_executor(config.isolation, quiet=True)
    client = llm if llm is not None else connect_llm(config)
    trace = TraceWriter(out / "trace.jsonl.part", keep=False)
    log = JobLog(out / "log.txt.part", echo)
    task = Task(
        spec=spec,
        description=description,
        train=train,
        llm=TaskLLM(client, config.budget, trace, seed=config.seed),
        evaluator=SandboxEvaluator(spec, train, executor),
        rng=np.random.default_rng(config.seed),
        trace=trace,
        seed=config.seed,
        log=log,
        options=options,
    )
    log(
        f"job: method {config.method}, env {spec.id}, seed {config.seed}, budget "
        f"{config.budget} LLM calls; {config.descriptions} description {description_path}; "
        f"train split {train_path} ({len(train)} transitions); candidates run in "
        f"`{executor.name}` sandboxes"
        + (f"; options {method_options.describe_values(resolved)}" if resolved else "")
    )
    trace.write(
        "job",
        method=config.method,
        env=spec.id,
        seed=config.seed,
        budget=config.budget,
        descriptions=config.descriptions,
        method_options=resolved,
    )
    try:
        program, error = _run_method(loaded.run, task, config.method)
    finally:
        if llm is None and client is not None and hasattr(client, "close"):
            client.close()
    status = "ok" if error is None else "error"
    evaluation = task.evaluation_of(program)
    trace.write("result", status=status, error=error, calls=task.llm.calls)
    wall = time.monotonic() - started
    log(f"done: status {status}, {task.llm.calls} LLM calls, {wall:.1f}s")
    trace.close()
    log.close()

    atomic_write_bytes(out / "program.py", program.encode())
    (out / "trace.jsonl.part").replace(out / "trace.jsonl")
    (out / "log.txt.part").replace(out / "log.txt")
    info = {
        "status": status,
        "error": error,
        "method": config.method,
        "env": spec.id,
        "seed": config.seed,
        "budget": config.budget,
        "llm_calls": task.llm.calls,
        "budget_exhausted": config.budget > 0 and task.llm.left == 0,
        "train_accuracy": None if evaluation is None else evaluation.accuracy,
        "train_paper_accuracy": None if evaluation is None else evaluation.paper_accuracy,
        "train_solved": None if evaluation is None else evaluation.solved,
        "descriptions": config.descriptions,
        "method_options": resolved,
        "description_sha256": sha256_file(description_path),
        "program_sha256": hashlib.sha256(program.encode()).hexdigest(),
        "train_sha256": sha256_file(train_path),
        "isolation": executor.name,
        "wall_seconds": round(wall, 3),
    }
    atomic_write_bytes(out / "job.json", (json.dumps(info, indent=2) + "\n").encode())
    return JobResult(status, error, program, task.llm.calls, wall, info)


def _run_method(run: Runner, task: Task, method: str) -> tuple[str, str | None]:
    """(program, error): what the method returned, or its best evaluated program if it raised."""
    try:
        program = run(task)
        if not isinstance(program, str):
            raise CwmbError(f"method {method!r} returned {type(program).__name__}, not str")
        return program, None
    except BudgetExhausted:
        task.log("the LLM budget ran out inside the method; keeping its best evaluated program")
        return task.best_program or "", None
    except Exception as exc:  # a failing method must not lose what it found
        error = f"{type(exc).__name__}: {exc}"
        task.log(f"the method failed: {error}\n{traceback.format_exc()}")
        return task.best_program or "", error
