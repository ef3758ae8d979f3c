"""The LLM client every method uses: the `openai` package pointed at the CWMB gateway.

Inside a job the gateway is reached over a Unix socket (or a loopback URL) named in the job's
environment, with the job's own token as the bearer key; `LlmClient.from_environment()` reads
both. The client applies the paper's sampling defaults, returns plain text with the token usage,
and turns every failure into one clear `LlmError` (`BudgetExhausted` when the job's budget is spent).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, cast

import httpx
import openai

from cwmb.llm.errors import ERROR_BY_CODE, BudgetExhausted, LlmError, ReplayMiss
from cwmb.llm.models import MODEL_ENV
from cwmb.llm.wire import Json, error_code, error_message

__all__ = ["BudgetExhausted", "Completion", "LlmClient", "LlmError", "ReplayMiss", "Sampling"]

SOCKET_ENV = "CWMB_LLM_SOCKET"
URL_ENV = "CWMB_LLM_URL"
TOKEN_ENV = "CWMB_LLM_TOKEN"

# The host part is ignored on a Unix socket; it only has to be a valid URL.
SOCKET_BASE_URL = "http://cwmb-gateway/v1"
CACHE_HEADER = "x-cwmb-cache"
CALLS_LEFT_HEADER = "x-cwmb-calls-left"
DEFAULT_TIMEOUT_S = 1800.0


@dataclass(frozen=True)
class Sampling:
    """Sampling parameters; the defaults are the paper's Llama 3 settings (the authors' GPT-4
    Turbo runs used max_tokens 4096, temperature 0.6, top_p 0.8 and no top_k)."""

    max_tokens: int = 1500
    temperature: float = 1.0
    top_p: float = 0.8
    top_k: int | None = 100  # sent as an extra field; the gateway drops it for OpenAI's own API

    def applied_to(self, request: Json) -> Json:
        """`request` with these settings in place of whatever sampling it asked for (a None
        top_k removes the field)."""
        out = {k: v for k, v in request.items() if k != "top_k"}
        out.update(max_tokens=self.max_tokens, temperature=self.temperature, top_p=self.top_p)
        if self.top_k is not None:
            out["top_k"] = self.top_k
        return out


@dataclass(frozen=True)
class Completion:
    """One answer: plain text, usage, and how it was produced."""

    text: str
    model: str
    prompt_tokens: int
    completion_tokens: int
    latency_s: float
    finish_reason: str
    cache_hit: bool | None  # None when not answered through the gateway
    calls_left: int | None  # the job's remaining budget, when the gateway reports it

    def to_json(self) -> Json:
        return asdict(self)


class LlmClient:
    """A chat client bound to one model (and, inside a job, to that job's budget)."""

    def __init__(
        self,
        model: str,
        *,
        socket_path: str | os.PathLike[str] | None = None,
        base_url: str | None = None,
        api_key: str | None = None,
        sampling: Sampling | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        max_retries: int = 0,
        on_call: Callable[[Sequence[Json], Completion], None] | None = None,
    ):
        if (socket_path is None) == (base_url is None):
            raise LlmError("an LLM client needs exactly one of a gateway socket or a base URL")
        self.model = model
        self.sampling = sampling or Sampling()
        self.on_call = on_call
        self.calls = 0
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self._where = (
            f"the LLM gateway at {socket_path}"
            if socket_path
            else f"the LLM endpoint at {base_url}"
        )
        transport = httpx.HTTPTransport(uds=os.fspath(socket_path)) if socket_path else None
        self._http = httpx.Client(transport=transport, timeout=timeout_s)
        self._openai = openai.OpenAI(
            # The openai package insists on a key; a local server that needs none gets a dummy.
            api_key=api_key or "none",
            base_url=SOCKET_BASE_URL if socket_path else base_url,
            # openai 3 is typed against httpx2 but accepts an httpx client (our declared dependency).
            http_client=cast(Any, self._http),
            max_retries=max_retries,
            timeout=timeout_s,
        )

    @classmethod
    def from_environment(cls, env: Mapping[str, str] | None = None, **kwargs: Any) -> LlmClient:
        """The client of a job, from the variables the host put in its environment."""
        env = os.environ if env is None else env
        socket_path, url = env.get(SOCKET_ENV), env.get(URL_ENV)
        if not socket_path and not url:
            raise LlmError(
                f"no LLM gateway for this job: neither {SOCKET_ENV} nor {URL_ENV} is set "
                "(jobs get them from the host that runs the bench)"
            )
        model = env.get(MODEL_ENV)
        if not model:
            raise LlmError(f"no model for this job: {MODEL_ENV} is not set")
        return cls(
            model,
            socket_path=socket_path or None,
            base_url=None if socket_path else url,
            api_key=env.get(TOKEN_ENV),
            **kwargs,
        )

    def complete(
        self,
        messages: Sequence[Json],
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
        top_p: float | None = None,
        top_k: int | None = None,
        stop: Sequence[str] | None = None,
        seed: int | None = None,
    ) -> Completion:
        """Ask for one answer to a chat. Unset sampling parameters take the client's defaults."""
        d = self.sampling
        s = Sampling(
            max_tokens=d.max_tokens if max_tokens is None else max_tokens,
            temperature=d.temperature if temperature is None else temperature,
            top_p=d.top_p if top_p is None else top_p,
            top_k=d.top_k if top_k is None else top_k,
        )
        params: Json = {"max_tokens": s.max_tokens, "temperature": s.temperature, "top_p": s.top_p}
        if stop:
            params["stop"] = list(stop)
        if seed is not None:
            params["seed"] = seed
        extra = {"top_k": s.top_k} if s.top_k is not None else None
        start = time.perf_counter()
        try:
            raw = self._openai.chat.completions.with_raw_response.create(
                model=self.model,
                messages=cast(Any, list(messages)),
                extra_body=extra,
                **params,
            )
            body = raw.parse()
        except openai.APIStatusError as exc:
            raise self._status_error(exc) from None
        except openai.APITimeoutError:
            raise LlmError(f"the LLM call to {self._where} timed out") from None
        except openai.APIConnectionError as exc:
            cause = exc.__cause__ or exc
            raise LlmError(f"cannot reach {self._where}: {cause}") from None
        latency = time.perf_counter() - start
        if not body.choices:
            raise LlmError(f"{self._where} answered with no choices")
        usage = body.usage
        cache = raw.headers.get(CACHE_HEADER)
        left = raw.headers.get(CALLS_LEFT_HEADER)
        result = Completion(
            text=body.choices[0].message.content or "",
            model=body.model or self.model,
            prompt_tokens=usage.prompt_tokens if usage else 0,
            completion_tokens=usage.completion_tokens if usage else 0,
            latency_s=latency,
            finish_reason=str(body.choices[0].finish_reason or "stop"),
            cache_hit=None if cache is None else cache == "hit",
            calls_left=int(left) if left is not None and left.isdigit() else None,
        )
        self.calls += 1
        self.prompt_tokens += result.prompt_tokens
        self.completion_tokens += result.completion_tokens
        if self.on_call is not None:
            self.on_call(messages, result)
        return result

    def _status_error(self, exc: openai.APIStatusError) -> LlmError:
        message = error_message(exc.body) or str(exc)
        kind = ERROR_BY_CODE.get(error_code(exc.body) or "", LlmError)
        if kind is LlmError:
            message = f"LLM call failed ({exc.status_code} from {self._where}): {message}"
        return kind(message)

    def close(self) -> None:
        self._openai.close()
        self._http.close()

    def __enter__(self) -> LlmClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
