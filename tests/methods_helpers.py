"""Helpers for the runner and method tests: scripted answers by request kind, marker programs with
an instant fake evaluator, and Task construction.

Marker programs are not real world models: their comments say how they score
(`# score 0.75`; `# raises`: it raised on some transitions, scoring 0.75 on the others), so the search rules can be driven exactly and fast. Tests that need
real scoring use the sandbox evaluator on a shipped train split."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from cwmb import registry
from cwmb.dataset import Transitions, read_npz
from cwmb.runner import ChatModel, Evaluation, SandboxEvaluator, Task, TaskLLM
from cwmb.sandbox.select import get_executor
from cwmb.trace import TraceWriter

FIX_MARK = "# The error it raises"
IMPROVE_MARK = "# A transition it gets wrong"


def request_kind(messages: list[dict[str, Any]]) -> str:
    """Which shared prompt a request is: generate, improve or fix."""
    text = str(messages[-1].get("content", ""))
    if FIX_MARK in text:
        return "fix"
    if IMPROVE_MARK in text:
        return "improve"
    return "generate"


def fenced(source: str) -> str:
    return f"Here you go.\n\n```python\n{source.strip()}\n```\n"


def marker_program(score: float, raises: bool = False, lines: int = 12, tag: str = "") -> str:
    """A program whose fake evaluation is `score` (or a bug), `lines` lines long."""
    head = ["# cwm", f"# score {score}"] + (["# raises"] if raises else []) + [f"# tag {tag}"]
    body = [f"v{i} = {i}" for i in range(max(0, lines - len(head)))]
    return "\n".join(head + body) + "\n"


class KindScript:
    """A ScriptedLLM rule answering each request kind from its own queue (or function).

    `queues[kind]` is a list of answers (strings) served in order, or a callable taking the
    messages. `kinds` records the kind of every request in arrival order."""

    def __init__(self, **queues: list[str] | Callable[[list[dict[str, Any]]], str]):
        self.queues = queues
        self.kinds: list[str] = []
        self.messages: list[list[dict[str, Any]]] = []

    def __call__(self, body: dict[str, Any]) -> str:
        messages = body["messages"]
        kind = request_kind(messages)
        self.kinds.append(kind)
        self.messages.append(messages)
        source = self.queues.get(kind)
        if source is None:
            return fenced(marker_program(0.1, tag=f"{kind}-default"))
        if callable(source):
            return source(messages)
        if not source:
            raise AssertionError(f"the script has no more {kind} answers")
        return source.pop(0)


_SCORE = re.compile(r"^# score ([0-9.]+)\s*$", re.MULTILINE)


class FakeEvaluator:
    """Scores marker programs instantly; anything else (e.g. an empty program) raises."""

    def __init__(self) -> None:
        self.programs: list[str] = []

    def __call__(self, program: str) -> Evaluation:
        self.programs.append(program)
        scores = _SCORE.findall(program)
        accuracy = float(scores[-1]) if scores else 0.0
        if not scores or "# raises" in program:
            # Like a program that raises on some transitions only: its marked accuracy stays
            # (the credit methods rank it by is still 0).
            error = "Traceback (most recent call last):\nValueError: scripted bug"
            return Evaluation(accuracy, 0.0, 0.0, 0.0, False, 10, 5, error, _mismatch(error))
        solved = accuracy >= 1.0
        return Evaluation(
            accuracy, accuracy, accuracy, accuracy, solved, 10, 0, None,
            None if solved else _mismatch(None),
        )  # fmt: skip


def _mismatch(error: str | None) -> dict[str, Any]:
    return {
        "index": 3,
        "episode": 0,
        "step": 3,
        "state": [0.5, -1.25],
        "action": 1,
        "expected": {"next_state": [0.5, -1.0], "reward": 1.0, "done": False},
        "predicted": {
            "next_state": None if error else [0.5, -1.5],
            "reward": None if error else 0.0,
            "done": None if error else False,
        },
        "error": error,
    }


def methods_folder(folder: Path, monkeypatch: Any, files: dict[str, str]) -> Path:
    """A CWMB_METHODS_PATH folder at `folder` holding `files` (relative path -> source)."""
    for name, source in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(source)
    monkeypatch.setenv("CWMB_METHODS_PATH", str(folder))
    return folder


def shipped_train_envs() -> list[str]:
    """Environments whose train split is in trajectories/ (the ones methods can run on)."""
    found = []
    for env_id in registry.env_ids():
        spec = registry.get(env_id)
        if "train" in spec.datasets and spec.split_path("train").is_file():
            found.append(env_id)
    return found


def make_task(
    env_id: str,
    model: ChatModel | None,
    budget: int,
    evaluator: Callable[[str], Evaluation] | None = None,
    seed: int = 0,
    train: Transitions | None = None,
    trace_path: Path | None = None,
) -> Task:
    """A Task like a job builds one; the fake evaluator unless one is given."""
    spec = registry.get(env_id)
    trace = TraceWriter(trace_path)
    if train is None:
        path = spec.split_path("train")
        train = read_npz(path) if path.is_file() else _tiny_split(spec)
    return Task(
        spec=spec,
        description=spec.description(),
        train=train,
        llm=TaskLLM(model, budget, trace, seed=seed),
        evaluator=evaluator or FakeEvaluator(),
        rng=np.random.default_rng(seed),
        trace=trace,
        seed=seed,
    )


def sandbox_evaluator(task: Task) -> SandboxEvaluator:
    """The evaluator a job uses: real programs scored in sandbox child processes."""
    return SandboxEvaluator(task.spec, task.train, get_executor("process", quiet=True))


def _tiny_split(spec: registry.EnvSpec) -> Transitions:
    """A one-transition stand-in split for rule tests that never look at the data."""
    zeros = {
        "obs": np.zeros((1, *spec.observation.shape), dtype=spec.observation.dtype),
        "action": np.zeros((1, *spec.action.shape), dtype=spec.action.dtype),
        "next_obs": np.zeros((1, *spec.observation.shape), dtype=spec.observation.dtype),
        "reward": np.zeros(1),
        "terminated": np.zeros(1, dtype=bool),
        "truncated": np.zeros(1, dtype=bool),
        "episode": np.zeros(1, dtype=np.int32),
        "step": np.zeros(1, dtype=np.int32),
    }
    return Transitions.from_arrays(zeros)
