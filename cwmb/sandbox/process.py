"""The `process` backend: each session is a worker forked from a local fork server (`zygote.py`)
and confined by `confine.py` as far as the OS allows (namespaces, private filesystem view, own
uid, rlimits). Opening a session costs a fork, not a Python start-up."""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
from typing import Any

from cwmb.sandbox.base import Limits, ProgramFormats, SandboxError
from cwmb.sandbox.program_view import check_profile
from cwmb.sandbox.session import WorkerSession, make_pipes

START_TIMEOUT = 60.0  # the fork server imports numpy once; slow machines under load need a while
REPLY_TIMEOUT = 60.0
MAX_MESSAGE = 1 << 16

# What full isolation means for this backend, in the order the note lists them.
FEATURE_WORDS = {
    "rlimits": "rlimits",
    "uid": "own uid",
    "network": "no network",
    "pid": "own process tree",
    "filesystem": "private read-only filesystem",
    "ipc": "own IPC",
}


def clean_environment() -> dict[str, str]:
    """The only variables a worker gets: nothing from the host (no API keys, no tokens)."""
    return {
        "PATH": "/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
    }


class ForkServer:
    """The host's client of one fork server, started on first use and stopped at exit."""

    def __init__(self, namespaces: bool = True) -> None:
        self.namespaces = namespaces
        self.base: str | None = None  # the server's private folder (sandbox mount points)
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._sock: socket.socket | None = None
        self._owner = os.getpid()
        self._isolation: dict[str, Any] | None = None

    @property
    def isolation(self) -> dict[str, Any]:
        """What confinement a sandbox gets on this machine (measured by a probe at start)."""
        with self._lock:
            self._ensure()
            assert self._isolation is not None
            return self._isolation

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def _ensure(self) -> None:
        if self._owner != os.getpid():  # we are a forked copy: the socket is our parent's
            self._proc, self._sock, self._owner = None, None, os.getpid()
        if self._proc is not None and self._proc.poll() is None and self._sock is not None:
            return
        self._stop()
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-I", "-m", "cwmb.sandbox.zygote", str(child.fileno())]
                + ([] if self.namespaces else ["--no-namespaces"]),
                pass_fds=[child.fileno()],
                env=clean_environment(),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                cwd="/",
                start_new_session=True,
            )
        finally:
            child.close()
        self._sock = parent
        ready = self._receive(START_TIMEOUT, "start")
        if not ready.get("ready"):
            self._stop()
            raise SandboxError(f"the sandbox fork server did not start: {ready}")
        self._isolation = ready.get("isolation") or {}
        self.base = ready.get("base")

    def _receive(self, timeout: float, what: str) -> dict[str, Any]:
        assert self._sock is not None
        self._sock.settimeout(timeout)
        try:
            data = self._sock.recv(MAX_MESSAGE)
        except OSError as exc:
            self._stop()
            raise SandboxError(f"the sandbox fork server did not {what}: {exc}") from None
        if not data:
            self._stop()
            raise SandboxError(f"the sandbox fork server died (during {what})")
        answer: dict[str, Any] = json.loads(data)
        return answer

    def call(self, message: dict[str, Any], fds: list[int] | None = None) -> dict[str, Any]:
        with self._lock:
            for attempt in (1, 2):
                self._ensure()
                assert self._sock is not None
                try:
                    socket.send_fds(self._sock, [json.dumps(message).encode()], fds or [])
                    return self._receive(REPLY_TIMEOUT, message.get("op", "answer"))
                except (OSError, SandboxError):
                    # The server died (its sandboxes die with it): start a new one for a spawn;
                    # a sandbox to kill is gone already.
                    self._stop()
                    if message.get("op") != "spawn" or attempt == 2:
                        if message.get("op") == "kill":
                            return {"ok": True, "status": None}
                        raise
            raise AssertionError("unreachable")

    def status(self) -> dict[str, Any]:
        """{"spare": PID of the prepared sandbox or None, "sandboxes": PIDs of live sandboxes}."""
        return self.call({"op": "status"})

    def _stop(self) -> None:
        if self._sock is not None:
            self._sock.close()  # the server sees EOF, kills its sandboxes and exits
            self._sock = None
        if self._proc is not None:
            try:
                self._proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
            self._proc = None

    def shutdown(self) -> None:
        with self._lock:
            if self._owner == os.getpid():
                self._stop()


_SERVER = ForkServer()
atexit.register(_SERVER.shutdown)


class ForkedWorker:
    """A sandbox forked by the fork server (implements session.WorkerProcess)."""

    def __init__(self, server: ForkServer, limits: Limits, profile: str = "program"):
        self.server = server
        (self.stdin, self.stdout, self.stderr), child = make_pipes()
        request = {"op": "spawn", "limits": limits.os_limits(), "profile": profile}
        try:
            reply = server.call(request, list(child))
        except BaseException:
            for fd in (self.stdin, self.stdout, self.stderr):
                os.close(fd)
            raise
        finally:
            for fd in child:
                os.close(fd)
        if not reply.get("ok"):
            for fd in (self.stdin, self.stdout, self.stderr):
                os.close(fd)
            raise SandboxError(f"could not start a sandbox: {reply.get('error')}")
        self.pid: int = reply["pid"]

    def terminate(self, graceful: bool) -> int | None:
        try:
            reply = self.server.call({"op": "kill", "pid": self.pid})
        except SandboxError:
            return None
        status = reply.get("status")
        return status if isinstance(status, int) else None


def describe_isolation(isolation: dict[str, Any]) -> str:
    """One line: what a process sandbox got here, and what it lacks."""
    got = set(isolation.get("features") or [])
    have = [word for key, word in FEATURE_WORDS.items() if key in got]
    lack = [word for key, word in FEATURE_WORDS.items() if key not in got]
    text = "local process sandbox (" + (", ".join(have) or "nothing") + ")"
    if isolation.get("user_namespace"):
        text += " in a user namespace"
    if lack:
        why = "; ".join(p for p in isolation.get("problems") or [] if p)
        text += "; missing: " + ", ".join(lack) + (f" ({why})" if why else "")
    return text


class ProcessExecutor:
    name = "process"

    def __init__(self, server: ForkServer | None = None):
        self.server = server or _SERVER

    @property
    def isolation(self) -> dict[str, Any]:
        return self.server.isolation

    @property
    def isolation_note(self) -> str:
        return describe_isolation(self.isolation)

    @property
    def complete(self) -> bool:
        """Whether every confinement this backend knows took effect."""
        return set(FEATURE_WORDS) <= set(self.isolation.get("features") or [])

    def open(
        self,
        source: str,
        formats: ProgramFormats,
        limits: Limits | None = None,
        profile: str = "program",
    ) -> WorkerSession:
        limits = limits or Limits()
        worker = ForkedWorker(self.server, limits, check_profile(profile))
        return WorkerSession(worker, source, formats, limits, hello=True)


def shutdown() -> None:
    """Stop this process's fork server (it restarts on the next session)."""
    with contextlib.suppress(SandboxError):
        _SERVER.shutdown()
