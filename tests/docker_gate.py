"""pytest hooks for tests marked `docker` (imported by tests/conftest.py).

Without a Docker engine those tests are skipped, except when CWMB_REQUIRE_DOCKER=1 (CI): there a
docker test that does not run, for whatever reason, is reported as a failure."""

from __future__ import annotations

import functools
import os
from collections.abc import Generator
from typing import Any

import pytest

REQUIRE_ENV = "CWMB_REQUIRE_DOCKER"


def docker_required() -> bool:
    return os.environ.get(REQUIRE_ENV, "") == "1"


@functools.cache
def engine_problem() -> str | None:
    """None when a Docker engine answers a ping, else a one-line reason."""
    try:
        import docker

        client = docker.from_env(timeout=10)
        try:
            client.ping()
        finally:
            client.close()
    except Exception as exc:  # whatever breaks, there is no usable engine
        return f"no Docker engine answers ({type(exc).__name__}: {exc})"
    return None


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("docker") is None:
        return
    problem = engine_problem()
    if problem is None:
        return
    if docker_required():
        pytest.fail(f"{problem}, but {REQUIRE_ENV}=1", pytrace=False)
    pytest.skip(problem)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, Any, None]:
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    if not docker_required() or item.get_closest_marker("docker") is None:
        return
    problem = engine_problem()
    if report.when == "setup" and problem is not None:
        # Even an xfail-marked test: a missing engine is not the failure it expects.
        if hasattr(report, "wasxfail"):
            del report.wasxfail
        report.outcome = "failed"
        report.longrepr = f"{problem}, but {REQUIRE_ENV}=1"
    elif report.skipped and not hasattr(report, "wasxfail"):
        # A skip raised inside a docker test (importorskip, a helper's skip, ...) hides a
        # missing capability just as well.
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"docker test skipped while {REQUIRE_ENV}=1: {reason}"
