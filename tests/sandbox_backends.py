"""The `backend` fixture: one (name, executor) per sandbox backend, for the suites that must hold
under every backend (import it into a test module to use it)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from cwmb.sandbox.base import Executor
from cwmb.sandbox.process import ForkServer, ProcessExecutor


def _docker_executor() -> Executor:
    from cwmb.sandbox.docker_backend import DockerExecutor, docker_problem

    problem = docker_problem()
    if problem:
        pytest.skip(problem)
    return DockerExecutor()


@pytest.fixture(
    scope="module", params=["process", pytest.param("docker", marks=pytest.mark.docker)]
)
def backend(request: pytest.FixtureRequest) -> Iterator[tuple[str, Executor]]:
    if request.param == "docker":
        yield "docker", _docker_executor()
        return
    server = ForkServer()
    yield "process", ProcessExecutor(server)
    server.shutdown()
