"""The LLM gateway: a small OpenAI-compatible server the host runs for the duration of a bench.

Every job gets a Unix socket of its own (optionally a loopback TCP port too), in a folder that
holds nothing else, and a token valid only on that socket until the job ends; the gateway alone
holds the real API key. For every call it
1. checks the job's token (every endpoint, `/v1/models` included, answers 401 without it) and
   reads the body incrementally up to a cap (413 past it);
2. admits only the allowed request fields (`request_rules`): `n` must be 1 and `max_tokens` is
   clamped to the run's setting; then puts the run's sampling settings in the request, when the
   gateway has them (so every call of a bench samples as its manifest says, and the cache key
   holds those settings);
3. enforces the job's budget of LLM calls (the call past the budget gets HTTP 429 with code
   `budget_exhausted`, which the client raises as BudgetExhausted);
4. consults the record/replay cache (occurrences are counted per job);
5. on a miss, asks the backend: the upstream endpoint (with timeouts and retries) or the embedded
   model in-process, at most a few calls of one job at a time;
6. records the job, tokens in and out, latency and whether the cache answered.

Connections are capped per job (`job_server`), so no job can starve another's calls or use up
the host's file descriptors. `with Gateway(spec) as gw:` runs the gateway's event loop in a
background thread; `add_job` opens a job's socket, `end_job` revokes its token and closes it.
`job_environment()` builds the whole environment a job is started with.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
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
from cwmb.llm.job_server import SOCKET_NAME, JobLimits, JobServer, open_file_limit
from cwmb.llm.models import MODEL_ENV, ModelSpec, resolve_upstream
from cwmb.llm.request_rules import admit
from cwmb.llm.upstream import RetryPolicy, Timeouts, UpstreamBackend
from cwmb.llm.wire import HttpError, Json, Reply, completion_body

__all__ = ["SOCKET_NAME", "CallRecord", "Gateway", "JobLimits", "Prices", "job_environment"]

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
                for k in ("max_tokens", "temperature", "top_p", "top_k", "seed")
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
    token: str
    server: JobServer | None = None
    used: int = 0
    refused: int = 0  # calls answered with an error
    ended: bool = False
    inflight: asyncio.Semaphore | None = None

    def left(self) -> int | None:
        return None if self.budget is None else max(0, self.budget - self.used)

    def server_or_fail(self) -> JobServer:
        if self.server is None:
            raise CwmbError(f"job {self.job_id!r} has no gateway socket")
        return self.server


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
        limits: JobLimits | None = None,
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
        # The run's setting: no request gets more (the paper's when the run sets none).
        self.max_tokens = (sampling or Sampling()).max_tokens
        self.limits = limits or JobLimits()
        self._socket_root = Path(socket_dir) if socket_dir else None
        self._own_socket_root = socket_dir is None
        self._tcp = tcp
        self._jobs: dict[str, Job] = {}  # by job id, ended jobs included (their usage counts)
        self._tokens: dict[str, Job] = {}  # live jobs only
        self._jobs_lock = threading.Lock()
        self.calls: list[CallRecord] = []
        self._log_path = Path(log_path) if log_path else None
        self._log_lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._max_live_jobs = 0

    # -- jobs -------------------------------------------------------------------------------
    def add_job(self, job_id: str, budget: int | None = None) -> str:
        """Open a job's own socket and return the token it authenticates with (its only
        credential, valid on that socket until `end_job`). Adding a job id again (a retry)
        ends its earlier incarnation first."""
        if budget is not None and budget < 0:
            raise CwmbError(f"the LLM budget of job {job_id!r} must be >= 0, got {budget}")
        if self._loop is None or self._socket_root is None:
            raise CwmbError("the LLM gateway is not running")
        self.end_job(job_id)
        with self._jobs_lock:
            live = len(self._tokens)
        if live >= self._max_live_jobs:
            raise CwmbError(
                f"the LLM gateway serves at most {self._max_live_jobs} jobs at once "
                "(bounded by this process's open-file limit); run fewer jobs in parallel"
            )
        job = Job(job_id, budget, token=f"cwmb-job-{secrets.token_urlsafe(24)}")
        job.inflight = asyncio.Semaphore(self.limits.max_inflight)
        # An unguessable folder name: the socket root is not listable, so no job finds another's.
        folder = self._socket_root / secrets.token_hex(8)
        job.server = JobServer(
            self._job_app(job), folder, self._loop, self.limits.connections, self._tcp
        )
        job.server.wait_started(START_TIMEOUT_S)
        with self._jobs_lock:
            self._jobs[job_id] = job
            self._tokens[job.token] = job
        # A job run again in the same session (a retry) sees its recorded answers from the start.
        self.cache.restart(job_id)
        return job.token

    def end_job(self, job_id: str) -> None:
        """Revoke a job's token and close its socket and connections (a no-op for an unknown
        or already ended job). Its usage stays readable."""
        with self._jobs_lock:
            job = self._jobs.get(job_id)
            if job is None or job.ended:
                return
            job.ended = True
            self._tokens.pop(job.token, None)
        if job.server is not None:
            job.server.close()

    def socket_dir(self, job_id: str) -> Path:
        """The folder holding only this job's socket: what a job container mounts."""
        return self._live(job_id).server_or_fail().folder

    def url(self, job_id: str) -> str | None:
        """The job's loopback URL, when the gateway listens on TCP too."""
        return self._live(job_id).server_or_fail().url

    def _live(self, job_id: str) -> Job:
        with self._jobs_lock:
            job = self._jobs.get(job_id)
        if job is None or job.ended:
            raise CwmbError(f"job {job_id!r} has no gateway socket (never added, or ended)")
        return job

    def job_environment(
        self,
        token: str,
        socket_path_in_job: str | None = None,
        host_env: Mapping[str, str] | None = None,
    ) -> dict[str, str]:
        """`job_environment()` for the job of `token`, over its own socket. Pass the socket's
        path inside a container when the job runs in one."""
        with self._jobs_lock:
            job = self._tokens.get(token)
        if job is None:
            raise CwmbError("no live job holds this token (never added, or ended)")
        path = socket_path_in_job or job.server_or_fail().socket_path
        return job_environment(token, self.spec.id, socket_path=path, host_env=host_env)

    def usage(self) -> dict[str, Json]:
        """Per job: calls, cache hits, tokens, budget, calls used and calls refused."""
        out: dict[str, Json] = {}

        def blank() -> Json:
            return dict(calls=0, cache_hits=0, prompt_tokens=0, completion_tokens=0, cost_usd=0.0)

        with self._jobs_lock:
            for job in self._jobs.values():
                out[job.job_id] = {
                    "budget": job.budget,
                    "used": job.used,
                    "refused": job.refused,
                    **blank(),
                }
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
    def _job_app(self, job: Job) -> Starlette:
        """The app behind one job's socket: every path checks the job's token first."""

        async def endpoint(request: Request) -> Response:
            start = time.perf_counter()
            try:
                self._check_token(job, request)
                route = (request.method, request.url.path)
                if route == ("GET", "/v1/models"):
                    return self._models()
                if route != ("POST", "/v1/chat/completions"):
                    raise HttpError(404, f"no such endpoint: {request.method} {request.url.path}")
            except HttpError as exc:
                self._refused(job, exc, start)
                return self._error(exc, None)
            return await self._chat(job, request, start)

        methods = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
        return Starlette(routes=[Route("/{path:path}", endpoint, methods=methods)])

    def _models(self) -> JSONResponse:
        return JSONResponse(
            {
                "object": "list",
                "data": [{"id": self.spec.id, "object": "model", "owned_by": self.spec.provider}],
            }
        )

    def _check_token(self, job: Job, request: Request) -> None:
        auth = request.headers.get("authorization", "")
        token = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
        if job.ended or not secrets.compare_digest(token.encode(), job.token.encode()):
            raise HttpError(
                401,
                "unknown job token: jobs authenticate with the CWMB_LLM_TOKEN the host gave them",
                "invalid_token",
            )

    async def _read_body(self, request: Request) -> bytes:
        """The body, read as it arrives and refused once past the cap (never buffered whole)."""
        cap = self.limits.max_body_bytes
        too_big = HttpError(
            413, f"the request body is larger than the gateway's limit of {cap} bytes", "too_large"
        )
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > cap:
            raise too_big
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > cap:
                raise too_big
            chunks.append(chunk)
        return b"".join(chunks)

    async def _read_request(self, request: Request) -> Json:
        raw = await self._read_body(request)
        try:
            body = json.loads(raw)
        except (ValueError, RecursionError):
            raise HttpError(400, "the request body is not JSON", "invalid_request") from None
        return admit(body, self.spec.id, self.max_tokens)

    async def _chat(self, job: Job, request: Request, start: float) -> Response:
        left, charged = None, False
        slot: Slot | None = None
        try:
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
                charged = True
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
                assert job.inflight is not None
                async with job.inflight:  # a job's own calls queue behind each other, no one else's
                    reply = await self.backend.complete(body)
                if self.cache.mode is CacheMode.READ_WRITE:
                    # A write may queue behind another process's transaction: off the event loop.
                    reply = await asyncio.to_thread(self.cache.store, slot, reply)
        except HttpError as exc:
            # A failed call uses up neither the budget nor an occurrence in the cache.
            left = self._undo(job, slot, charged, left)
            self._refused(job, exc, start)
            return self._error(exc, left)
        except Exception as exc:  # a gateway bug must not hang the job: answer 500 and log
            self._undo(job, slot, charged, left)
            print(f"cwmb gateway: internal error: {exc!r}", file=sys.stderr)
            error = HttpError(500, f"LLM gateway internal error: {exc!r}", "internal_error")
            self._refused(job, error, start)
            return self._error(error, None)
        self._record(job.job_id, 200, reply, hit, start)
        headers = {
            CACHE_HEADER: "hit"
            if hit
            else ("miss" if self.cache.mode is not CacheMode.OFF else "off")
        }
        if left is not None:
            headers[CALLS_LEFT_HEADER] = str(left)
        return JSONResponse(completion_body(reply, self.spec.id), headers=headers)

    def _undo(self, job: Job, slot: Slot | None, charged: bool, left: int | None) -> int | None:
        if slot is not None:
            self.cache.release(slot)
        if not charged:
            return left
        with self._jobs_lock:
            job.used -= 1
            return job.left()

    def _refused(self, job: Job, exc: HttpError, start: float) -> None:
        """Count an error answer; log only the first few per job, so that a job hammering the
        gateway with bad requests cannot fill the host's disk with log lines."""
        with self._jobs_lock:
            job.refused += 1
            logged = job.refused <= self.limits.logged_refusals
        if logged:
            self._record(job.job_id, exc.status, None, False, start, exc.message)

    @staticmethod
    def _error(exc: HttpError, left: int | None) -> JSONResponse:
        # The gateway has already retried upstream; tell OpenAI clients not to retry on top.
        # Closing the connection stops a client that is still sending a body nobody will read.
        headers = {"x-should-retry": "false", "connection": "close"}
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
    def start(self) -> Gateway:
        if self._thread is not None:
            return self
        if self._socket_root is None:
            self._socket_root = Path(tempfile.mkdtemp(prefix="cwmb-gw-"))
        self._socket_root.mkdir(parents=True, exist_ok=True)
        # Traversable, not listable: a job reaches its own folder by name and cannot list others.
        os.chmod(self._socket_root, 0o711)
        self._max_live_jobs = self.limits.live_jobs(open_file_limit())
        loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=loop.run_forever, name="cwmb-llm-gateway", daemon=True
        )
        self._thread.start()
        self._loop = loop
        return self

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        with self._jobs_lock:
            live = [job for job in self._jobs.values() if not job.ended]
        for job in live:  # all at once: each takes a tick of its server to notice
            if job.server is not None:
                job.server.ask_to_close()
        for job in live:
            self.end_job(job.job_id)
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(self.backend.aclose(), loop).result(timeout=15)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=15)
        loop.close()
        self._loop, self._thread = None, None
        if self._own_socket_root and self._socket_root is not None:
            shutil.rmtree(self._socket_root, ignore_errors=True)
            self._socket_root = None

    def __enter__(self) -> Gateway:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
