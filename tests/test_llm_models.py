"""Model selection: names, environment variables, defaults and the errors a user can cause."""

from __future__ import annotations

import pytest

from cwmb.errors import CwmbError
from cwmb.llm.models import (
    DEFAULT_MODEL,
    OPENAI_BASE_URL,
    parse_model,
    resolve_upstream,
    select_model,
)


def test_default_is_the_embedded_model() -> None:
    spec = select_model(env={})
    assert spec.id == DEFAULT_MODEL
    assert spec.is_local and spec.base_url is None


def test_names_split_on_the_first_slash_only() -> None:
    assert parse_model("openai/meta-llama/Llama-3.1-8B") == ("openai", "meta-llama/Llama-3.1-8B")


def test_arguments_win_over_environment() -> None:
    env = {"CWMB_MODEL": "openai/from-env", "CWMB_MODEL_BASE_URL": "http://env:1/v1"}
    assert select_model(env=env).id == "openai/from-env"
    assert select_model(env=env).base_url == "http://env:1/v1"
    spec = select_model("openai/arg", "http://arg:2/v1/", env=env)
    assert (spec.id, spec.base_url) == ("openai/arg", "http://arg:2/v1")


def test_openai_without_base_url_goes_to_openai() -> None:
    spec = select_model("openai/gpt-4o", env={})
    assert spec.base_url == OPENAI_BASE_URL and spec.is_official_openai


@pytest.mark.parametrize(
    ("model", "fragment"),
    [
        ("gpt-4o", "provider/name"),
        ("anthropic/claude", "unknown model provider 'anthropic'"),
        ("local/llama-70b", "unknown embedded model"),
        ("/x", "provider/name"),
    ],
)
def test_bad_model_names_are_one_clear_error(model: str, fragment: str) -> None:
    with pytest.raises(CwmbError, match=fragment):
        select_model(model, env={})


def test_base_url_with_embedded_model_is_an_error() -> None:
    with pytest.raises(CwmbError, match="does not apply to the embedded model"):
        select_model("local/gemma-3-270m", "http://x/v1", env={})


def test_base_url_must_be_http() -> None:
    with pytest.raises(CwmbError, match="must start with http"):
        select_model("openai/x", "localhost:8000", env={})


def test_openai_needs_a_key_but_self_hosted_servers_do_not() -> None:
    with pytest.raises(CwmbError, match="OPENAI_API_KEY"):
        resolve_upstream(select_model("openai/gpt-4o", env={}), env={})
    official = resolve_upstream(select_model("openai/gpt-4o", env={}), env={"OPENAI_API_KEY": "k"})
    assert official.api_key == "k" and not official.supports_top_k
    vllm = resolve_upstream(select_model("openai/m", "http://127.0.0.1:8000/v1", env={}), env={})
    assert vllm.api_key is None and vllm.supports_top_k


def test_a_gguf_file_is_a_local_model(tmp_path) -> None:
    from cwmb.llm.errors import LlmError

    weights = tmp_path / "tiny.gguf"
    weights.write_bytes(b"GGUF")
    spec = select_model(f"local/{weights}", env={})
    assert spec.is_local and spec.name == str(weights) and spec.base_url is None
    with pytest.raises(LlmError, match="no GGUF file"):
        select_model(f"local/{tmp_path / 'missing.gguf'}", env={})
    with pytest.raises(LlmError, match="PATH.gguf"):
        select_model("local/not-a-model", env={})
