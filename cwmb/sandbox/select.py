"""Choosing an executor backend: `docker` when an engine answers, else `process`, saying so."""

from __future__ import annotations

import sys

from cwmb.errors import CwmbError
from cwmb.sandbox.base import Executor
from cwmb.sandbox.process import ProcessExecutor

BACKENDS = ("auto", "docker", "process")


def docker_available() -> bool:
    try:
        from cwmb.sandbox.docker_backend import engine_answers
    except ImportError:
        return False
    return engine_answers()


def get_executor(name: str = "auto", quiet: bool = False) -> Executor:
    """The executor for `--isolation NAME`; prints one line when isolation is weaker than asked."""
    if name not in BACKENDS:
        raise CwmbError(f"unknown isolation {name!r}; choose one of {', '.join(BACKENDS)}")
    if name in ("auto", "docker") and docker_available():
        from cwmb.sandbox.docker_backend import DockerExecutor

        return DockerExecutor()
    if name == "docker":
        raise CwmbError(
            "--isolation docker: no Docker engine answers (start dockerd, or use --isolation process)"
        )
    executor = ProcessExecutor()
    if name == "auto" and not quiet:
        print(
            f"cwmb: note: no Docker engine; {executor.isolation_note} — isolation is weaker",
            file=sys.stderr,
        )
    return executor
