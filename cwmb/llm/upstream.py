"""Forwarding a chat request from the gateway to a remote OpenAI-compatible endpoint.

Runs on the host, inside the gateway's event loop. It adds the API key (which only the host holds),
bounds every request with timeouts, and retries rate limits (429), server errors (5xx) and
connection failures with exponential backoff, honouring a short `Retry-After`. Whatever still
fails becomes an `HttpError` for the job, with the key scrubbed from any upstream message.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass

import httpx

from cwmb.llm.errors import LlmError
from cwmb.llm.models import ModelSpec, Upstream
from cwmb.llm.wire import HttpError, Json, Reply, error_message, reply_from_completion


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 5
    base_delay_s: float = 1.0
    max_delay_s: float = 30.0

    def delay(self, attempt: int, retry_after: str | None = None) -> float:
        """Seconds to wait before try number `attempt + 1` (attempt counts from 0)."""
        wait = self.base_delay_s * (2**attempt)
        if retry_after:
            # An HTTP date (rare from LLM servers) is ignored: the backoff is good enough.
            with contextlib.suppress(ValueError):
                wait = max(wait, float(retry_after))
        return min(wait, self.max_delay_s)


@dataclass(frozen=True)
class Timeouts:
    connect_s: float = 10.0
    # Generating 1500 tokens on a busy server can take minutes.
    read_s: float = 600.0


def _retryable(status: int) -> bool:
    return status == 429 or status >= 500


class UpstreamBackend:
    """Serves one remote model. Create and use it inside one event loop."""

    def __init__(
        self,
        spec: ModelSpec,
        upstream: Upstream,
        retry: RetryPolicy | None = None,
        timeouts: Timeouts | None = None,
    ):
        self.spec = spec
        self._upstream = upstream
        self.retry = retry or RetryPolicy()
        t = timeouts or Timeouts()
        self._timeout = httpx.Timeout(t.read_s, connect=t.connect_s)
        self._client: httpx.AsyncClient | None = None
        self.upstream_calls = 0

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            headers = {"content-type": "application/json"}
            if self._upstream.api_key:
                headers["authorization"] = f"Bearer {self._upstream.api_key}"
            self._client = httpx.AsyncClient(
                base_url=self._upstream.base_url, headers=headers, timeout=self._timeout
            )
        return self._client

    def _scrub(self, text: str) -> str:
        key = self._upstream.api_key
        return text.replace(key, "***") if key else text

    def _body(self, request: Json) -> bytes:
        body = {k: v for k, v in request.items() if k not in ("stream", "stream_options")}
        body["model"] = self.spec.name
        if not self._upstream.supports_top_k:
            body.pop("top_k", None)
        return json.dumps(body).encode()

    async def complete(self, request: Json) -> Reply:
        body = self._body(request)
        where = self._upstream.base_url
        last = ""
        retry_after: str | None = None
        for attempt in range(self.retry.attempts):
            if attempt:
                await asyncio.sleep(self.retry.delay(attempt - 1, retry_after))
            retry_after = None
            try:
                self.upstream_calls += 1
                response = await self._http().post("/chat/completions", content=body)
            except httpx.TimeoutException as exc:
                last = f"timed out ({type(exc).__name__})"
                continue
            except httpx.TransportError as exc:
                last = f"cannot connect ({exc or type(exc).__name__})"
                continue
            if response.status_code == 200:
                try:
                    return reply_from_completion(response.json())
                except (ValueError, LlmError) as exc:
                    raise HttpError(
                        502, f"upstream {where} sent an unreadable answer: {exc}"
                    ) from None
            detail = self._scrub(self._detail(response))
            if _retryable(response.status_code):
                retry_after = response.headers.get("retry-after")
                last = f"HTTP {response.status_code}: {detail}"
                continue
            if response.status_code in (401, 403):
                raise HttpError(
                    502,
                    f"upstream {where} rejected the API key (HTTP {response.status_code}): {detail}",
                    "upstream_auth",
                )
            raise HttpError(
                response.status_code,
                f"upstream {where} refused the request (HTTP {response.status_code}): {detail}",
                "upstream_error",
            )
        raise HttpError(
            502,
            f"upstream {where} failed after {self.retry.attempts} attempts: {self._scrub(last)}",
            "upstream_unavailable",
        )

    @staticmethod
    def _detail(response: httpx.Response) -> str:
        try:
            message = error_message(response.json())
        except ValueError:
            message = None
        return (message or response.text or response.reason_phrase)[:300]

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
