"""Shared pytest fixtures."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from llm_server import ScriptedLLM


@pytest.fixture
def scripted_llm() -> Iterator[ScriptedLLM]:
    """A scripted OpenAI-compatible server on 127.0.0.1 (see tests/llm_server.py)."""
    with ScriptedLLM() as server:
        yield server


# Docker-marked tests: skipped without an engine, failures when CWMB_REQUIRE_DOCKER=1 (CI).
from docker_gate import pytest_runtest_makereport, pytest_runtest_setup  # noqa: E402,F401
