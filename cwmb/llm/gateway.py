"""The LLM gateway: a small OpenAI-compatible server the host runs for the duration of a bench.

Jobs reach it over a Unix socket (optionally loopback TCP) and authenticate with the per-job
token the host handed them; the gateway alone holds the real API key. For every call it
1. finds the job by its token and enforces the job's budget of LLM calls (the call past the
   budget gets HTTP 429 with code `budget_exhausted`, which the client raises as BudgetExhausted);
2. puts the run's sampling settings in the request, when the gateway has them (so every call of
   a bench samples as its manifest says, and the cache key holds those settings);
3. consults the record/replay cache (occurrences are counted per job);
4. on a miss, asks the backend: the upstream endpoint (with timeouts and retries) or the embedded
   model in-process;
5. records the job, tokens in and out, latency and whether the cache answered.

`with Gateway(spec) as gw:` starts uvicorn in a background thread (ready in well under a second)
and stops it on exit. `job_environment()` builds the whole environment a job is started with.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import shutil
import socket
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from cwmb.errors import CwmbError
from cwmb.llm.cache import CacheMode, LlmCache, Slot
from cwmb.llm.client import (
    CACHE_HEADER,
    CALLS_LEFT_HEADER,
    SOCKET_ENV,
    TOKEN_ENV,
    URL_ENV,
    Sampling,
)
from cwmb.llm.errors import BUDGET_CODE, REPLAY_MISS_CODE, LlmError, ReplayMiss
from cwmb.llm.models import MODEL_ENV, ModelSpec, resolve_upstream
from cwmb.llm.upstream import RetryPolicy, Timeouts, UpstreamBackend
from cwmb.llm.wire import HttpError, Json, Reply, completion_body

SOCKET_NAME = "llm.sock"
PRICE_ENV = "CWMB_PRICE_PER_MTOK"
START_TIMEOUT_S = 15.0
# Variables a job may inherit from the host; everything else (keys above all) stays behind.
JOB_ENV_PASSTHROUGH = ("PATH", "LANG", "LC_ALL", "TZ")


@dataclass(frozen=True)
class Prices:
    """US dollars per million tokens, to count what a run costs (the user supplies them:
    prices change too often to ship a table)."""

    input_per_mtok: float
    output_per_mtok: float

    def cost(self, reply: Reply) -> float:
        return (
            reply.prompt_tokens * self.input_per_mtok
            + reply.completion_tokens * self.output_per_mtok
        ) / 1e6

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Prices | None:
        """From CWMB_PRICE_PER_MTOK="IN,OUT" (for example "2.5,10"), if set."""
        text = (os.environ if env is None else env).get(PRICE_ENV, "").strip()
        if not text:
            return None
        try:
            given, taken = (float(x) for x in text.split(","))
        except ValueError:
            raise CwmbError(
                f'{PRICE_ENV} must be "INPUT,OUTPUT" dollars per million tokens, got {text!r}'
            ) from None
        return cls(given, taken)


class Backend(Protocol):
    async def complete(self, request: Json) -> Reply: ...

    async def aclose(self) -> None: ...


class LocalBackend:
    """The embedded model, loaded on first use and run in a worker thread."""

    def __init__(self, spec: ModelSpec):
        self.spec = spec
        self._model: Any = None
        self._lock = threading.Lock()

    def load(self) -> Any:
        with self._lock:
            if self._model is None:
                from cwmb.llm.local import LocalModel

                self._model = LocalModel(self.spec.name)
            return self._model

    async def complete(self, request: Json) -> Reply:
        def run() -> Reply:
            model = self.load()
            params = {
                k: request[k]
                for k in ("max_tokens", "temperature", "top_p", "top_k", "seed", "n")
                if request.get(k) is not None
            }
            stop = request.get("stop") or ()
            return model.generate(
                request["messages"], stop=[stop] if isinstance(stop, str) else stop, **params
            )

        try:
            return await asyncio.to_thread(run)
        except LlmError as exc:
            raise HttpError(503, str(exc), "local_model_unavailable") from None

    async def aclose(self) -> None:
        return None


@dataclass
class Job:
    job_id: str
    budget: int | None  # None: unlimited
    used: int = 0

    def left(self) -> int | None:
        return None if self.budget is None else max(0, self.budget - self.used)


@dataclass(frozen=True)
class CallRecord:
    job: str
    model: str
    status: int
    prompt_tokens: int
    completion_tokens: int
    latency_ms: float
    cache_hit: bool
    time: float
    error: str | None = None
    cost_usd: float = 0.0  # live calls only, at the run's prices; a cache hit costs nothing


def job_environment(
    token: str,
    model: str,
    socket_path: str | os.PathLike[str] | None = None,
    url: str | None = None,
    host_env: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The complete environment to start a job with: a few harmless host variables, the gateway's
    address (the socket path as the job sees it, or a loopback URL), the job's token and the model
    id. Nothing else from the host is inherited, so no API key can leak into a job."""
    if (socket_path is None) == (url is None):
        raise CwmbError("a job needs exactly one gateway address: a socket path or a URL")
    host_env = os.environ if host_env is None else host_env
    env = {k: host_env[k] for k in JOB_ENV_PASSTHROUGH if k in host_env}
    env.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
    env.update({TOKEN_ENV: token, MODEL_ENV: model, "PYTHONUNBUFFERED": "1"})
    if socket_path is not None:
        env[SOCKET_ENV] = os.fspath(socket_path)
    else:
        env[URL_ENV] = str(url)
    return env


class Gateway:
    """The gateway of one run. Use as a context manager (or call start/stop)."""

    def __init__(
        self,
        spec: ModelSpec,
        *,
        cache: LlmCache | None = None,
        socket_dir: str | os.PathLike[str] | None = None,
        tcp: bool = False,
        host_env: Mapping[str, str] | None = None,
        retry: RetryPolicy | None = None,
        timeouts: Timeouts | None = None,
        log_path: str | os.PathLike[str] | None = None,
        prices: Prices | None = None,
        sampling: Sampling | None = None,
    ):
        self.spec = spec
        self.sampling = sampling  # None: each request samples as it asks
        # Prices: given, else CWMB_PRICE_PER_MTOK from the host's environment, else not counted.
        self.prices = prices if prices is not None else Prices.from_env(host_env)
        self.cache = cache or LlmCache(mode=CacheMode.OFF)
        self.backend: Backend = (
            LocalBackend(spec)
            if spec.is_local
            # Resolving the upstream is where a missing API key is reported, before any job runs.
            else UpstreamBackend(spec, resolve_upstream(spec, host_env), retry, timeouts)
        )
        self._socket_dir = Path(socket_dir) if socket_dir else None
        self._own_socket_dir = socket_dir is None
        self._tcp = tcp
        self._jobs: dict[str, Job] = {}
        self._jobs_lock = threading.Lock()
        self.calls: list[CallRecord] = []
        self._log_path = Path(log_path) if log_path else None
        self._log_lock = threading.Lock()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.socket_path: Path | None = None
        self.url: str | None = None
        self.app = self._build_app()

    # -- jobs -------------------------------------------------------------------------------
    def add_job(self, job_id: str, budget: int | None = None) -> str:
        """Register a job and return the token it authenticates with (its only credential)."""
        if budget is not None and budget < 0:
            raise CwmbError(f"the LLM budget of job {job_id!r} must be >= 0, got {budget}")
        token = f"cwmb-job-{secrets.token_urlsafe(24)}"
        with self._jobs_lock:
            self._jobs[token] = Job(job_id, budget)
        # A job run again in the same session (a retry) sees its recorded answers from the start.
        self.cache.restart(job_id)
        return token

    def job_environment(
        self,
        token: str,
        socket_path_in_job: str | None = None,
        host_env: Mapping[str, str] | None = None,
    ) -> dict[str, str]:
        """`job_environment()` for this gateway: over the socket unless only TCP is listening.
        Pass the socket's path inside a container when the job runs in one."""
        if self.socket_path is None and self.url is None:
            raise CwmbError("the LLM gateway is not running")
        if self.socket_path is not None:
            path = socket_path_in_job or self.socket_path
            return job_environment(token, self.spec.id, socket_path=path, host_env=host_env)
        return job_environment(token, self.spec.id, url=self.url, host_env=host_env)

    def usage(self) -> dict[str, Json]:
        """Per job: calls, cache hits, tokens, budget and calls used."""
        out: dict[str, Json] = {}

        def blank() -> Json:
            return dict(calls=0, cache_hits=0, prompt_tokens=0, completion_tokens=0, cost_usd=0.0)

        with self._jobs_lock:
            for job in self._jobs.values():
                out[job.job_id] = {"budget": job.budget, "used": job.used, **blank()}
        for rec in list(self.calls):
            entry = out.setdefault(rec.job, blank())
            if rec.status == 200:
                entry["calls"] += 1
                entry["cache_hits"] += int(rec.cache_hit)
                entry["prompt_tokens"] += rec.prompt_tokens
                entry["completion_tokens"] += rec.completion_tokens
                entry["cost_usd"] += rec.cost_usd
        return out

    def warm(self) -> None:
        """Load the embedded model now (a no-op for remote models)."""
        if isinstance(self.backend, LocalBackend):
            self.backend.load()

    # -- HTTP -------------------------------------------------------------------------------
    def _build_app(self) -> Starlette:
        @contextlib.asynccontextmanager
        async def lifespan(app: Starlette) -> AsyncIterator[None]:
            yield
            await self.backend.aclose()

        return Starlette(
            routes=[
                Route("/v1/chat/completions", self._chat, methods=["POST"]),
                Route("/v1/models", self._models, methods=["GET"]),
            ],
            lifespan=lifespan,
        )

    async def _models(self, request: Request) -> JSONResponse:
        return JSONResponse(
            {
                "object": "list",
                "data": [{"id": self.spec.id, "object": "model", "owned_by": self.spec.provider}],
            }
        )

    def _job_of(self, request: Request) -> Job:
        auth = request.headers.get("authorization", "")
        token = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
        with self._jobs_lock:
            job = self._jobs.get(token)
        if job is None:
            raise HttpError(
                401,
                "unknown job token: jobs authenticate with the CWMB_LLM_TOKEN the host gave them",
                "invalid_token",
            )
        return job

    async def _read_request(self, request: Request) -> Json:
        try:
            body = json.loads(await request.body())
        except ValueError:
            raise HttpError(400, "the request body is not JSON", "invalid_request") from None
        if (
            not isinstance(body, dict)
            or not isinstance(body.get("messages"), list)
            or not body["messages"]
        ):
            raise HttpError(
                400, "a chat request needs a non-empty `messages` list", "invalid_request"
            )
        if body.get("stream"):
            raise HttpError(
                400, "the CWMB gateway does not stream; send stream=false", "invalid_request"
            )
        if body.get("model") != self.spec.id:
            raise HttpError(
                404,
                f"this gateway serves {self.spec.id}, not {body.get('model')!r}",
                "model_not_found",
            )
        return body

    async def _chat(self, request: Request) -> JSONResponse:
        start = time.perf_counter()
        job_id, left, charged = "?", None, None
        job: Job | None = None
        slot: Slot | None = None
        try:
            job = self._job_of(request)
            job_id = job.job_id
            body = await self._read_request(request)
            if self.sampling is not None:
                body = self.sampling.applied_to(body)
            with self._jobs_lock:
                if job.budget is not None and job.used >= job.budget:
                    raise HttpError(
                        429,
                        f"LLM budget exhausted: job {job.job_id!r} has used all {job.budget} calls of its budget",
                        BUDGET_CODE,
                    )
                job.used += 1
                charged = job
                left = job.left()
            # The occurrence is taken now, in arrival order, before anything can interleave.
            slot = self.cache.slot(body, scope=job.job_id)
            try:
                # Inline: a WAL read never waits for writers, and a hit should cost no thread hop.
                reply = self.cache.lookup(slot)
            except ReplayMiss as exc:
                raise HttpError(409, str(exc), REPLAY_MISS_CODE) from None
            hit = reply is not None
            if reply is None:
                reply = await self.backend.complete(body)
                if self.cache.mode is CacheMode.READ_WRITE:
                    # A write may queue behind another process's transaction: off the event loop.
                    reply = await asyncio.to_thread(self.cache.store, slot, reply)
        except HttpError as exc:
            # A failed call uses up neither the budget nor an occurrence in the cache.
            if slot is not None:
                self.cache.release(slot)
            if charged is not None:
                with self._jobs_lock:
                    charged.used -= 1
                    left = charged.left()
            self._record(job_id, exc.status, None, False, start, exc.message)
            return self._error(exc, left)
        except Exception as exc:  # a gateway bug must not hang the job: answer 500 and log
            if slot is not None:
                self.cache.release(slot)
            if charged is not None:
                with self._jobs_lock:
                    charged.used -= 1
            print(f"cwmb gateway: internal error: {exc!r}", file=sys.stderr)
            self._record(job_id, 500, None, False, start, repr(exc))
            return self._error(
                HttpError(500, f"LLM gateway internal error: {exc!r}", "internal_error"), None
            )
        self._record(job_id, 200, reply, hit, start)
        headers = {
            CACHE_HEADER: "hit"
            if hit
            else ("miss" if self.cache.mode is not CacheMode.OFF else "off")
        }
        if left is not None:
            headers[CALLS_LEFT_HEADER] = str(left)
        return JSONResponse(completion_body(reply, self.spec.id), headers=headers)

    @staticmethod
    def _error(exc: HttpError, left: int | None) -> JSONResponse:
        # The gateway has already retried upstream; tell OpenAI clients not to retry on top.
        headers = {"x-should-retry": "false"}
        if left is not None:
            headers[CALLS_LEFT_HEADER] = str(left)
        return JSONResponse(exc.body(), status_code=exc.status, headers=headers)

    def _record(
        self,
        job: str,
        status: int,
        reply: Reply | None,
        hit: bool,
        start: float,
        error: str | None = None,
    ) -> None:
        rec = CallRecord(
            job=job,
            model=self.spec.id,
            status=status,
            prompt_tokens=reply.prompt_tokens if reply else 0,
            completion_tokens=reply.completion_tokens if reply else 0,
            cost_usd=self.prices.cost(reply) if reply and self.prices and not hit else 0.0,
            latency_ms=round((time.perf_counter() - start) * 1000, 3),
            cache_hit=hit,
            time=time.time(),
            error=error,
        )
        self.calls.append(rec)
        if self._log_path is not None:
            with self._log_lock, self._log_path.open("a") as fh:
                fh.write(json.dumps(asdict(rec)) + "\n")

    # -- lifecycle --------------------------------------------------------------------------
    def _listeners(self) -> list[socket.socket]:
        socks: list[socket.socket] = []
        if self._socket_dir is None:
            self._socket_dir = Path(tempfile.mkdtemp(prefix="cwmb-gw-"))
        self._socket_dir.mkdir(parents=True, exist_ok=True)
        # Traversable by the unprivileged user a job runs as; the token is what grants access.
        os.chmod(self._socket_dir, 0o711)
        path = self._socket_dir / SOCKET_NAME
        if len(os.fsencode(path)) > 100:
            raise CwmbError(f"the gateway socket path {path} is too long for a Unix socket")
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        unix.bind(os.fspath(path))
        os.chmod(path, 0o666)
        socks.append(unix)
        self.socket_path = path
        if self._tcp:
            tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            tcp.bind(("127.0.0.1", 0))
            socks.append(tcp)
            self.url = f"http://127.0.0.1:{tcp.getsockname()[1]}/v1"
        for s in socks:
            s.listen(128)
        return socks

    def start(self) -> Gateway:
        if self._thread is not None:
            return self
        socks = self._listeners()
        config = uvicorn.Config(
            self.app,
            log_level="warning",
            access_log=False,
            lifespan="on",
            timeout_graceful_shutdown=5,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": socks}, name="cwmb-llm-gateway", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise CwmbError("the LLM gateway failed to start")
            time.sleep(0.002)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=15)
        self._server, self._thread = None, None
        if self.socket_path is not None:
            with contextlib.suppress(FileNotFoundError):
                self.socket_path.unlink()
        if self._own_socket_dir and self._socket_dir is not None:
            shutil.rmtree(self._socket_dir, ignore_errors=True)
            self._socket_dir = None

    def __enter__(self) -> Gateway:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
