"""The paper's Table 8 experiment: a code world model's step against an LLM predicting the same step.

Both sides get the same transitions, drawn (seeded) from the train split:
- the program (the reference by default) runs in the sandbox. Opening its session is timed on its
  own; per-step times are taken inside the open session, two ways: one transition per request
  (the round trip a caller outside the sandbox pays) and many transitions in one request divided
  by their number (the cost of `set_state` + `step` themselves, as the authors timed it);
- the LLM answers the speed prompt (cwmb/speed_prompt.py: description, a few other train
  transitions as worked examples, then the query) through the gateway the bench uses, with the
  cache off so that every answer is a live call. Each call is timed end to end.
Both sets of predictions are scored with the project's metric on those transitions."""

from __future__ import annotations

import contextlib
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np

from cwmb.dataset import Transitions, load_split
from cwmb.errors import CwmbError
from cwmb.evaluation import predict, program_formats
from cwmb.formats import to_plain
from cwmb.llm.cache import CacheMode, LlmCache
from cwmb.llm.client import LlmClient
from cwmb.llm.errors import LlmError
from cwmb.llm.gateway import Gateway
from cwmb.llm.models import ModelSpec
from cwmb.registry import EnvSpec
from cwmb.sandbox.base import Executor, Session
from cwmb.scoring import score
from cwmb.speed_prompt import Example, answer_text, parse_answer, simulator_messages

SCHEMA = "cwmb-speed/1"
SPEED_JOB = "speed"
STEP_REPEATS = 20  # one-transition requests per query transition
BATCH_STEPS = 1000  # transitions in one timed batch request
BATCH_REPEATS = 5
# The answer ends with its "Done:" line; these stop a model that goes on with another turn.
STOP = ("\nUser:", "\nObservation:")
ANSWER_KEPT_CHARS = 2000  # of each LLM answer, in the result
# A measurement waits for the answer however long it takes (the embedded model writing a
# Humanoid state on a busy machine can take longer than the bench's 30-minute call limit).
CALL_TIMEOUT_S = 6 * 3600.0


@dataclass(frozen=True)
class SpeedSettings:
    transitions: int = 5
    examples: int = 3
    seed: int = 0
    descriptions: str = "standard"
    max_tokens: int | None = None  # None: enough for the longest example answer


@dataclass(frozen=True)
class Draw:
    """The transitions of one measurement: worked examples and queries, disjoint."""

    examples: list[Example]
    queries: Transitions


def draw(spec: EnvSpec, settings: SpeedSettings) -> Draw:
    data = load_split(spec, "train")
    wanted = settings.examples + settings.transitions
    if settings.transitions < 1 or settings.examples < 0:
        raise CwmbError("--transitions must be at least 1 and --examples at least 0")
    if wanted > len(data):
        raise CwmbError(
            f"{spec.id}'s train split has {len(data)} transitions; {settings.examples} examples "
            f"+ {settings.transitions} queries do not fit"
        )
    order = np.random.default_rng(settings.seed).permutation(len(data))
    examples = [
        Example(data.obs[i], data.action[i], data.next_obs[i], data.reward[i], data.terminated[i])
        for i in order[: settings.examples]
    ]
    return Draw(examples, data.select(np.sort(order[settings.examples : wanted])))


def answer_budget(examples: Sequence[Example], state_chars: int) -> int:
    """Tokens enough for an answer: a quarter more than the longest example's answer has
    characters (numbers take about a token per character with small vocabularies, digits split)."""
    longest = max((len(answer_text(e)) for e in examples), default=state_chars + 40)
    return int(1.25 * longest) + 32


# -- the program -----------------------------------------------------------------------------------


def _median_s(samples: list[float]) -> float:
    return float(statistics.median(samples))


def time_program(
    spec: EnvSpec, source: str, queries: Transitions, executor: Executor
) -> dict[str, Any]:
    """Session start, then per-step times inside the open session, and the program's answers."""
    start = time.perf_counter()
    session: Session = executor.open(source, program_formats(spec))
    session_start = time.perf_counter() - start
    with session:
        predictions = predict(session, queries)
        states = [to_plain(s) for s in queries.obs]
        actions = [to_plain(a) for a in queries.action]
        single = []
        for _ in range(STEP_REPEATS):
            for state, action in zip(states, actions, strict=True):
                begin = time.perf_counter()
                session.step_batch([state], [action])
                single.append(time.perf_counter() - begin)
        copies = -(-BATCH_STEPS // len(states))
        batch_states, batch_actions = (
            (states * copies)[:BATCH_STEPS],
            (actions * copies)[:BATCH_STEPS],
        )
        batches = []
        for _ in range(BATCH_REPEATS):
            begin = time.perf_counter()
            session.step_batch(batch_states, batch_actions)
            batches.append((time.perf_counter() - begin) / BATCH_STEPS)
    return {
        "session_start_s": session_start,
        "per_step_s": _median_s(batches),
        "per_request_s": _median_s(single),
        "batch_size": BATCH_STEPS,
        "requests_timed": len(single),
        "predictions": predictions,
    }


# -- the LLM -----------------------------------------------------------------------------------------


def local_prompt_tokens(messages_list: Sequence[Sequence[dict[str, str]]]) -> int:
    """The longest of these chats in the embedded model's tokens, as it would render them."""
    try:
        from llama_cpp import Llama
    except ImportError:
        raise LlmError(
            "the embedded model needs llama-cpp-python (optional extra `local`): run "
            "`uv sync --extra local`, or choose a remote model with --model openai/NAME"
        ) from None

    from cwmb.llm.local import render, weights_path

    with _quiet_stderr():  # llama.cpp logs its context set-up even when asked not to
        vocab = Llama(model_path=str(weights_path()), vocab_only=True, verbose=False)
    return max(
        len(vocab.tokenize(render(m, STOP).prompt.encode(), add_bos=True, special=False))
        for m in messages_list
    )


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


@contextlib.contextmanager
def local_context(needed: int) -> Iterator[int]:
    """Run with the embedded model's context at least `needed` tokens (CWMB_LOCAL_N_CTX), so
    that no prompt is cut; the previous setting comes back afterwards."""
    from cwmb.llm.local import MAX_DEFAULT_N_CTX, N_CTX_ENV

    before = os.environ.get(N_CTX_ENV)
    current = int(before or MAX_DEFAULT_N_CTX)
    n_ctx = max(current, -(-needed // 256) * 256)
    os.environ[N_CTX_ENV] = str(n_ctx)
    try:
        yield n_ctx
    finally:
        if before is None:
            os.environ.pop(N_CTX_ENV, None)
        else:
            os.environ[N_CTX_ENV] = before


def time_llm(
    client: LlmClient,
    chats: Sequence[list[dict[str, str]]],
    max_tokens: int,
    seed: int,
    progress: Callable[[int, float], None] | None = None,
) -> list[dict[str, Any]]:
    """One live call per chat, timed end to end (request to parsed text)."""
    calls = []
    for i, messages in enumerate(chats):
        begin = time.perf_counter()
        answer = client.complete(messages, max_tokens=max_tokens, stop=STOP, seed=seed + i)
        seconds = time.perf_counter() - begin
        calls.append(
            {
                "seconds": seconds,
                "prompt_tokens": answer.prompt_tokens,
                "completion_tokens": answer.completion_tokens,
                "finish_reason": answer.finish_reason,
                "text": answer.text,
            }
        )
        if progress:
            progress(i + 1, seconds)
    return calls


def _chats(description: str, sample: Draw) -> list[list[dict[str, str]]]:
    return [
        simulator_messages(description, sample.examples, state, action)
        for state, action in zip(sample.queries.obs, sample.queries.action, strict=True)
    ]


def _llm_calls(
    model: ModelSpec,
    chats: list[list[dict[str, str]]],
    max_tokens: int,
    seed: int,
    progress: Callable[[int, float], None] | None,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The calls through a gateway with the cache off, and how the LLM was set up."""
    setup: dict[str, Any] = {"n_ctx": None, "model_load_s": None}
    with contextlib.ExitStack() as stack:
        if model.is_local:
            # Every prompt must fit whole, with room for the answer.
            needed = local_prompt_tokens(chats) + max_tokens + 64
            setup["n_ctx"] = stack.enter_context(local_context(needed))
        gateway = stack.enter_context(Gateway(model, cache=LlmCache(mode=CacheMode.OFF)))
        if model.is_local:
            begin = time.perf_counter()
            gateway.warm()
            setup["model_load_s"] = time.perf_counter() - begin
        token = gateway.add_job(SPEED_JOB, budget=len(chats))
        client = stack.enter_context(
            LlmClient.from_environment(gateway.job_environment(token), timeout_s=CALL_TIMEOUT_S)
        )
        calls = time_llm(client, chats, max_tokens, seed, progress)
    return calls, setup


# -- the whole measurement ---------------------------------------------------------------------------


def measure(
    spec: EnvSpec,
    program_label: str,
    source: str,
    model: ModelSpec,
    executor: Executor,
    settings: SpeedSettings,
    progress: Callable[[int, float], None] | None = None,
) -> dict[str, Any]:
    """Time the program and the LLM on the same transitions; return the plain result."""
    sample = draw(spec, settings)
    queries = sample.queries
    shape = spec.observation.shape
    max_tokens = settings.max_tokens or answer_budget(sample.examples, 12 * spec.observation.size)
    program = time_program(spec, source, queries, executor)
    chats = _chats(spec.description(settings.descriptions), sample)
    calls, setup = _llm_calls(model, chats, max_tokens, settings.seed, progress)
    llm_predictions = [
        parse_answer(c["text"], spec.observation.size, scalar_state=shape == ()) for c in calls
    ]
    llm_seconds = [c["seconds"] for c in calls]
    llm_step = _median_s(llm_seconds)
    prompt_tokens = [c["prompt_tokens"] for c in calls]
    return {
        "schema": SCHEMA,
        "created": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "env": spec.id,
        "program": program_label,
        "isolation": executor.name,
        "model": model.id,
        "llm_path": (
            "embedded llama.cpp model served by the CWMB gateway (cache off)"
            if model.is_local
            else f"{model.base_url} through the CWMB gateway (cache off)"
        ),
        "descriptions": settings.descriptions,
        "transitions": len(queries),
        "examples": settings.examples,
        "seed": settings.seed,
        "max_tokens": max_tokens,
        "n_ctx": setup["n_ctx"],
        "machine": {
            "cpus": os.cpu_count(),
            "load_average_1min": round(os.getloadavg()[0], 2),
        },
        "program_timing": {k: v for k, v in program.items() if k != "predictions"},
        "llm_timing": {
            "per_step_s": llm_step,
            "mean_s": statistics.fmean(llm_seconds),
            "seconds": llm_seconds,
            "model_load_s": setup["model_load_s"],
            "prompt_tokens": prompt_tokens,
            "completion_tokens": [c["completion_tokens"] for c in calls],
            "finish_reasons": [c["finish_reason"] for c in calls],
        },
        "ratio": llm_step / program["per_step_s"],
        "ratio_per_request": llm_step / program["per_request_s"],
        "program_accuracy": score(spec, queries, program["predictions"]).to_dict(),
        "llm_accuracy": score(spec, queries, llm_predictions).to_dict(),
        "llm_answers": [c["text"][:ANSWER_KEPT_CHARS] for c in calls],
    }


def stderr_progress(total: int) -> Callable[[int, float], None]:
    def report(done: int, seconds: float) -> None:
        print(f"  LLM: transition {done}/{total} in {seconds:.2f} s", file=sys.stderr, flush=True)

    return report
