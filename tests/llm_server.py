"""Test helpers around the scripted OpenAI-compatible server (cwmb.llm.scripted).

The `scripted_llm` fixture in conftest.py starts one `ScriptedLLM` per test:

    def test_my_method(scripted_llm):
        scripted_llm.script(["```python\\nclass Environment: ...\\n```"])
        client = LlmClient("openai/scripted", base_url=scripted_llm.base_url)
        ...
        assert scripted_llm.upstream_calls == 1
        assert "CartPole" in scripted_llm.requests[0].messages[-1]["content"]

The rules below cover the common cases; any callable `request body -> reply` works as a script.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

from cwmb.llm.scripted import RecordedRequest, ReplySpec, Rule, ScriptedLLM

__all__ = [
    "RecordedRequest",
    "ReplySpec",
    "Rule",
    "ScriptedLLM",
    "code_reply",
    "counting_rule",
    "echo_rule",
    "failing",
]


def code_reply(source: str) -> str:
    """An answer that holds `source` in a Python code block, as a chat model writes it."""
    return f"Here is the program.\n\n```python\n{source.strip()}\n```\n"


def echo_rule(request: dict) -> ReplySpec:
    """Answer with the last message's text."""
    return str(request["messages"][-1].get("content", ""))


def counting_rule(prefix: str = "answer") -> Rule:
    """Answer `prefix 0`, `prefix 1`, ... — each call a distinct, predictable text."""
    counter: Iterator[int] = itertools.count()

    def rule(request: dict) -> ReplySpec:
        return f"{prefix} {next(counter)}"

    return rule


def failing(status: int, message: str = "scripted failure") -> ReplySpec:
    """An HTTP error answer, for scripts: `[failing(500), "ok"]`."""
    return {"status": status, "error": message}
