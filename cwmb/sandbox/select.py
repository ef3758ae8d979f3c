"""Choosing an executor backend: `docker` when it can run, else `process`, saying so.

The one-line note goes to stderr, once per process and backend, whenever the isolation a command
gets is weaker than what it asked for: `auto` falling back to processes, or `process` missing
some of its confinement on this machine."""

from __future__ import annotations

import sys

from cwmb.errors import CwmbError
from cwmb.sandbox.base import Executor

BACKENDS = ("auto", "docker", "process")

_noted: set[str] = set()


def docker_problem() -> str | None:
    """Why the docker backend cannot run here (None: it can)."""
    from cwmb.sandbox.docker_backend import docker_problem as problem

    return problem()


def docker_available() -> bool:
    return docker_problem() is None


def weaker_note(asked: str, executor: Executor, docker_reason: str | None = None) -> str | None:
    """The note to print for `--isolation asked` served by `executor`, or None."""
    if executor.name == "docker":
        return None
    if asked == "auto":
        return (
            f"cwmb: note: isolation is weaker than a container ({docker_reason}); "
            f"using a {executor.isolation_note}"
        )
    if not getattr(executor, "complete", True):
        return f"cwmb: note: isolation is weaker than asked: {executor.isolation_note}"
    return None


def get_executor(name: str = "auto", quiet: bool = False) -> Executor:
    """The executor for `--isolation NAME`; prints one line when isolation is weaker than asked."""
    if name not in BACKENDS:
        raise CwmbError(f"unknown isolation {name!r}; choose one of {', '.join(BACKENDS)}")
    reason = docker_problem() if name in ("auto", "docker") else None
    if name in ("auto", "docker") and reason is None:
        from cwmb.sandbox.docker_backend import DockerExecutor

        return DockerExecutor()
    if name == "docker":
        raise CwmbError(f"--isolation docker: {reason} (or use --isolation process)")
    from cwmb.sandbox.process import ProcessExecutor

    executor = ProcessExecutor()
    note = weaker_note(name, executor, reason)
    if note and not quiet and note not in _noted:
        _noted.add(note)
        print(note, file=sys.stderr)
    return executor
