"""Model selection: which model a run uses and where its endpoint is.

A model is named `provider/name`, as in the wider ecosystem:
- `local/gemma-3-270m` — the embedded default, served in-process by the gateway (see local.py);
- `local/PATH.gguf` — any GGUF base model file on the host, served the same way;
- `openai/NAME` — any OpenAI-compatible endpoint: OpenAI itself, or vLLM, llama.cpp server,
  Ollama, ... when `--model-base-url` (or CWMB_MODEL_BASE_URL) points elsewhere. NAME may itself
  hold slashes (`openai/meta-llama/Llama-3.1-8B-Instruct`); only the first one splits.

Only the host resolves the API key (OPENAI_API_KEY); jobs never get it (see gateway.py).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from cwmb.llm.errors import LlmError

DEFAULT_MODEL = "local/gemma-3-270m"
OPENAI_BASE_URL = "https://api.openai.com/v1"

MODEL_ENV = "CWMB_MODEL"
BASE_URL_ENV = "CWMB_MODEL_BASE_URL"
API_KEY_ENV = "OPENAI_API_KEY"

PROVIDERS = ("openai", "local")
# Models the embedded provider can serve; local.py maps each to its weights.
LOCAL_MODELS = ("gemma-3-270m",)
# `local/PATH.gguf`: any GGUF base model on the host, served like the embedded one.
GGUF_SUFFIX = ".gguf"


@dataclass(frozen=True)
class ModelSpec:
    """A selected model. `base_url` is None for the embedded model."""

    provider: str
    name: str
    base_url: str | None = None

    @property
    def id(self) -> str:
        """The name jobs and the cache use: `provider/name`."""
        return f"{self.provider}/{self.name}"

    @property
    def is_local(self) -> bool:
        return self.provider == "local"

    @property
    def is_official_openai(self) -> bool:
        """True when requests go to OpenAI's own API (which needs a key and rejects `top_k`)."""
        return self.base_url is not None and self.base_url.rstrip("/") == OPENAI_BASE_URL


@dataclass(frozen=True)
class Upstream:
    """Where the gateway forwards a remote model's calls. Lives on the host only."""

    base_url: str
    api_key: str | None
    supports_top_k: bool


def parse_model(text: str) -> tuple[str, str]:
    """Split `provider/name`; raise LlmError with the accepted forms when it does not parse."""
    provider, sep, name = text.strip().partition("/")
    if not sep or not provider or not name:
        raise LlmError(
            f"model {text!r} is not of the form provider/name "
            f"(for example {DEFAULT_MODEL} or openai/gpt-4o)"
        )
    if provider not in PROVIDERS:
        raise LlmError(
            f"unknown model provider {provider!r} in {text!r}; known providers: "
            f"{', '.join(PROVIDERS)} (any OpenAI-compatible server is openai/NAME with "
            f"--model-base-url URL)"
        )
    if provider == "local" and name not in LOCAL_MODELS and not name.endswith(GGUF_SUFFIX):
        raise LlmError(
            f"unknown embedded model {text!r}; available: "
            f"{', '.join('local/' + m for m in LOCAL_MODELS)}, or local/PATH.gguf (a GGUF file)"
        )
    return provider, name


def select_model(
    model: str | None = None,
    base_url: str | None = None,
    env: Mapping[str, str] | None = None,
) -> ModelSpec:
    """The model of a run: the arguments win over CWMB_MODEL / CWMB_MODEL_BASE_URL, then the
    default. A base URL with the embedded model is a mistake and says so."""
    env = os.environ if env is None else env
    text = model or env.get(MODEL_ENV) or DEFAULT_MODEL
    provider, name = parse_model(text)
    url = base_url or env.get(BASE_URL_ENV) or None
    if provider == "local":
        if base_url:
            raise LlmError(
                f"--model-base-url does not apply to the embedded model {text!r}; "
                "use openai/NAME for a server at a URL"
            )
        if name.endswith(GGUF_SUFFIX) and not Path(name).expanduser().is_file():
            raise LlmError(f"model {text!r}: no GGUF file at {Path(name).expanduser()}")
        # A CWMB_MODEL_BASE_URL left in the environment is ignored for the embedded model.
        return ModelSpec(provider, name, None)
    url = (url or OPENAI_BASE_URL).rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise LlmError(f"model base URL {url!r} must start with http:// or https://")
    return ModelSpec(provider, name, url)


def resolve_upstream(spec: ModelSpec, env: Mapping[str, str] | None = None) -> Upstream:
    """The endpoint and key for a remote model. OpenAI's own API needs OPENAI_API_KEY; a
    self-hosted server (vLLM, Ollama, llama.cpp) usually needs none, so the key is optional there."""
    env = os.environ if env is None else env
    if spec.base_url is None:
        raise LlmError(f"model {spec.id} is served in-process and has no upstream endpoint")
    key = env.get(API_KEY_ENV) or None
    if spec.is_official_openai and key is None:
        raise LlmError(
            f"model {spec.id} needs an API key: set {API_KEY_ENV} "
            f"(or point --model-base-url at a server that needs none)"
        )
    return Upstream(base_url=spec.base_url, api_key=key, supports_top_k=not spec.is_official_openai)
