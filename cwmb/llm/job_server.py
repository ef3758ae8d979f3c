"""One job's door into the gateway: its own Unix socket (and optionally a loopback TCP port),
served by its own uvicorn server inside the gateway's event loop.

Giving every job a listener of its own is what keeps jobs apart:
- the folder that holds a job's socket holds nothing else, so mounting it (read-only) into the
  job's container shows the job no other job's door;
- a job's connections are capped on its own listener: past `max_connections` a new connection
  is closed as soon as it is accepted, and a connection that sends nothing is closed after
  `idle_timeout_s`. A job that floods its socket only ever waits on itself, and the gateway's file
  descriptors stay bounded by (live jobs x cap);
- ending the job closes its listener and every connection, and removes the socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import shutil
import socket
import time
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path

import uvicorn
from starlette.types import ASGIApp
from uvicorn.protocols.http.h11_impl import H11Protocol

from cwmb.errors import CwmbError

SOCKET_NAME = "llm.sock"
BACKLOG = 64
# sun_path holds 108 bytes on Linux, 104 on macOS; keep a margin.
MAX_SOCKET_PATH = 100


@dataclass(frozen=True)
class ConnectionLimits:
    max_connections: int = 32  # open connections per job
    idle_timeout_s: float = 30.0  # a connection that sends nothing is closed after this long


@dataclass(frozen=True)
class JobLimits:
    """What one job may hold of the gateway."""

    connections: ConnectionLimits = ConnectionLimits()
    max_inflight: int = 4  # calls of one job served at once; more wait for their turn
    max_body_bytes: int = 1 << 20  # a request body past this gets 413
    logged_refusals: int = 200  # error answers logged per job; the rest are only counted

    def live_jobs(self, open_files: int) -> int:
        """How many jobs may be served at once so that, all at their connection cap, they hold
        at most half of the process's file descriptors."""
        return max(1, open_files // 2 // (self.connections.max_connections + 2))


def open_file_limit() -> int:
    """This process's open-file limit, raised to the hard limit first (the gateway's
    connections are the host's file descriptors)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        wanted = 1 << 16 if hard == resource.RLIM_INFINITY else min(hard, 1 << 16)
        if wanted > soft:
            with contextlib.suppress(ValueError, OSError):
                resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
                soft = wanted
    return soft


def capped_protocol(limits: ConnectionLimits) -> type[H11Protocol]:
    """uvicorn's h11 protocol, closing connections past the cap and connections left idle."""

    class CappedH11(H11Protocol):
        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            if len(self.connections) > limits.max_connections:
                transport.close()
                return
            # uvicorn times out idle connections only after a first response; start the clock now
            # (the first bytes received cancel it, as for any keep-alive wait).
            self.timeout_keep_alive_task = self.loop.call_later(
                limits.idle_timeout_s, self.timeout_keep_alive_handler
            )

    return CappedH11


def bind_unix(folder: Path) -> socket.socket:
    """A listening socket alone in `folder` (created 0755, the socket 0666): a job's user can
    connect; only the host can change what the folder holds."""
    folder.mkdir(mode=0o755)
    os.chmod(folder, 0o755)  # whatever the umask
    path = folder / SOCKET_NAME
    if len(os.fsencode(path)) > MAX_SOCKET_PATH:
        raise CwmbError(f"the gateway socket path {path} is too long for a Unix socket")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(os.fspath(path))
    os.chmod(path, 0o666)
    sock.listen(BACKLOG)
    return sock


def bind_loopback() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(BACKLOG)
    return sock


class JobServer:
    """The listener(s) of one job, served on `loop` until `close()`."""

    def __init__(
        self,
        app: ASGIApp,
        folder: Path,
        loop: asyncio.AbstractEventLoop,
        limits: ConnectionLimits,
        tcp: bool = False,
    ):
        self.folder = folder
        self.socket_path = folder / SOCKET_NAME
        sockets = [bind_unix(folder)]
        self.url: str | None = None
        if tcp:
            sockets.append(bind_loopback())
            self.url = f"http://127.0.0.1:{sockets[-1].getsockname()[1]}/v1"
        config = uvicorn.Config(
            app,
            http=capped_protocol(limits),
            lifespan="off",
            log_config=None,
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=1,
        )
        self._server = uvicorn.Server(config)
        self._done: Future[None] = asyncio.run_coroutine_threadsafe(self._serve(sockets), loop)

    async def _serve(self, sockets: list[socket.socket]) -> None:
        try:
            await self._server.serve(sockets=sockets)
        finally:
            # uvicorn leaves a connection open whose request it had to cancel; the job has ended.
            for connection in list(self._server.server_state.connections):
                transport = getattr(connection, "transport", None)
                if transport is not None:
                    transport.abort()

    def wait_started(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while not self._server.started:
            if self._done.done() or time.monotonic() > deadline:
                self.close()
                raise CwmbError(f"the LLM gateway could not listen at {self.socket_path}")
            time.sleep(0.001)

    @property
    def connections(self) -> int:
        return len(self._server.server_state.connections)

    def ask_to_close(self) -> None:
        self._server.should_exit = True

    def close(self, timeout_s: float = 10.0) -> None:
        """Stop listening, drop every connection and remove the socket and its folder."""
        self.ask_to_close()
        with contextlib.suppress(Exception):
            self._done.result(timeout=timeout_s)
        shutil.rmtree(self.folder, ignore_errors=True)
