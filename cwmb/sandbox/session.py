"""The host side of a worker session: send a request, wait for one answer line within limits.

Backends only decide how the worker process is started and how it is killed (a `WorkerProcess`);
the request/answer loop, the deadlines, the error messages and the clean-up are shared here."""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from cwmb.sandbox.base import Limits, ProgramFormats, SandboxError
from cwmb.sandbox.protocol import (
    PROTOCOL_VERSION,
    decode,
    encode,
    numeric_batch,
    pack_array,
    unpack_predictions,
)

STDERR_TAIL = 64 * 1024  # bytes of the worker's stderr kept for error messages
GRACE_SECONDS = 2.0  # a healthy worker whose stdin is closed exits by itself within this


class WorkerProcess(Protocol):
    """A started worker: the host's ends of its three pipes, and a way to end it for good."""

    stdin: int
    stdout: int
    stderr: int

    def terminate(self, graceful: bool) -> int | None:
        """End the worker and everything it started; its exit code (negative: signal).
        `graceful`: its stdin is closed and it was healthy, so it may be left a moment to exit
        by itself; otherwise kill at once."""


def make_pipes() -> tuple[tuple[int, int, int], tuple[int, int, int]]:
    """(host ends, worker ends) of the stdin, stdout and stderr pipes of a worker."""
    in_r, in_w = os.pipe()
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    return (in_w, out_r, err_r), (in_r, out_w, err_w)


class PopenWorker:
    """A worker started as a plain child process (`cleanup` runs after it is killed)."""

    def __init__(
        self,
        command: Sequence[str],
        env: dict[str, str],
        cwd: str | None = None,
        cleanup: Callable[[], None] | None = None,
        kill: Callable[[], None] | None = None,
    ):
        (self.stdin, self.stdout, self.stderr), child = make_pipes()
        try:
            self.proc = subprocess.Popen(
                list(command),
                stdin=child[0],
                stdout=child[1],
                stderr=child[2],
                env=env,
                cwd=cwd,
                start_new_session=True,
            )
        except OSError:
            for fd in (self.stdin, self.stdout, self.stderr):
                os.close(fd)
            raise
        finally:
            for fd in child:
                os.close(fd)
        self._cleanup = cleanup
        self._kill = kill

    def terminate(self, graceful: bool) -> int | None:
        if graceful:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=GRACE_SECONDS)
        if self._kill and self.proc.poll() is None:
            self._kill()
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
        code: int | None
        try:
            code = self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            code = None
        if self._cleanup:
            callback, self._cleanup = self._cleanup, None
            callback()
        return code


def describe_exit(code: int | None) -> str:
    """Why a worker ended, in words a user understands."""
    if code is None:
        return "unknown status"
    if code >= 0:
        return f"exit status {code}"
    number = -code
    reasons: dict[int, str] = {
        signal.SIGKILL: "killed (SIGKILL: memory, CPU or process limit, or killed)",
        signal.SIGXCPU: "CPU time limit exceeded (SIGXCPU)",
        signal.SIGXFSZ: "file size limit exceeded (SIGXFSZ)",
        signal.SIGSEGV: "segmentation fault (SIGSEGV)",
        signal.SIGBUS: "bus error (SIGBUS)",
        signal.SIGABRT: "aborted (SIGABRT)",
    }
    try:
        name = signal.Signals(number).name
    except ValueError:
        name = f"signal {number}"
    return reasons.get(number, name)


class WorkerSession:
    """One loaded program, answering requests until closed. Implements `Session`.

    `hello`: the worker first writes one line (the fork server's report of the confinement it
    applied) before reading the load request; it is kept in `isolation`."""

    def __init__(
        self,
        worker: WorkerProcess,
        source: str,
        formats: ProgramFormats,
        limits: Limits,
        hello: bool = False,
    ):
        self.limits = limits
        self.worker = worker
        os.set_blocking(worker.stdin, False)
        self.isolation: dict[str, Any] = {}
        self._buffer = b""
        self._stderr_tail = bytearray()
        self._stderr_open = True
        self._closed = False
        self._broken = False  # timed out, died or garbled: kill without grace
        self.exit_code: int | None = None
        try:
            if hello:
                greeting = self._answer(time.monotonic() + limits.load_seconds, "start")
                if not greeting.get("ok"):
                    raise SandboxError(f"the sandbox did not start: {greeting.get('error')}")
                self.isolation = greeting.get("isolation") or {}
            answer = self.request(
                {
                    "op": "load",
                    "source": source,
                    "observation": formats.observation,
                    "action": formats.action,
                },
                timeout=limits.load_seconds,
                what="load the program",
            )
        except BaseException:
            self.close()
            raise
        if answer.get("protocol") != PROTOCOL_VERSION:
            self.close()
            raise SandboxError(
                f"the sandbox's worker answered in protocol {answer.get('protocol', 1)}, not "
                f"{PROTOCOL_VERSION}: a stale image (rebuild it with `make image`) or a program "
                "that tampers with the worker"
            )
        if not answer.get("ok"):
            self.close()
            raise SandboxError(f"program failed to load:\n{str(answer.get('error', '')).strip()}")

    # -- requests -------------------------------------------------------------------------
    def request(
        self, message: dict[str, Any], timeout: float | None = None, what: str = "answer"
    ) -> dict[str, Any]:
        if self._closed:
            raise SandboxError("the sandbox session is closed")
        limit = timeout if timeout is not None else self.limits.wall_seconds
        return self._answer(time.monotonic() + limit, what, limit, encode(message))

    def _answer(
        self, deadline: float, what: str, limit: float | None = None, data: bytes = b""
    ) -> dict[str, Any]:
        line = self._exchange(data, deadline, what, limit)
        try:
            return decode(line)
        except ValueError:
            self._broken = True
            self.close()
            raise SandboxError("the program broke the sandbox protocol (garbled answer)") from None

    def _exchange(self, data: bytes, deadline: float, what: str, limit: float | None) -> bytes:
        """Write `data`, then read one answer line, never blocking past `deadline` (a worker that
        stops reading, or floods its stderr, cannot stall the host)."""
        cap = self.limits.output_mb * 1024 * 1024
        pending = memoryview(data)
        with selectors.DefaultSelector() as selector:
            selector.register(self.worker.stdout, selectors.EVENT_READ, "out")
            if self._stderr_open:
                selector.register(self.worker.stderr, selectors.EVENT_READ, "err")
            if pending:
                selector.register(self.worker.stdin, selectors.EVENT_WRITE, "in")
            while pending or b"\n" not in self._buffer:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    self._broken = True
                    self.close()
                    seconds = f"{limit:g} s" if limit is not None else "its time limit"
                    raise SandboxError(
                        f"the program did not {what} within {seconds} (wall-clock limit); "
                        "its sandbox was killed"
                    )
                for key, _ in selector.select(remaining):
                    if key.data == "in":
                        try:
                            written = os.write(self.worker.stdin, pending[: 1 << 16])
                        except BlockingIOError:
                            continue
                        except OSError:
                            raise self._died() from None
                        pending = pending[written:]
                        if not pending:
                            selector.unregister(self.worker.stdin)
                    elif key.data == "err":
                        if not self._drain_stderr():
                            selector.unregister(self.worker.stderr)
                    else:
                        chunk = os.read(self.worker.stdout, 1 << 20)
                        if not chunk:
                            raise self._died()
                        self._buffer += chunk
                        if len(self._buffer) > cap:
                            self._broken = True
                            self.close()
                            raise SandboxError(
                                f"the program's answer exceeded {self.limits.output_mb} MB"
                            )
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line

    def _drain_stderr(self) -> bool:
        """Keep the tail of what the program prints (its stdout goes there too); False at EOF."""
        try:
            chunk = os.read(self.worker.stderr, 1 << 16)
        except OSError:
            chunk = b""
        if not chunk:
            self._stderr_open = False
            return False
        self._stderr_tail += chunk
        if len(self._stderr_tail) > STDERR_TAIL:
            del self._stderr_tail[: len(self._stderr_tail) - STDERR_TAIL]
        return True

    def _died(self) -> SandboxError:
        self._broken = True
        self.close()
        tail = self.stderr_tail()
        return SandboxError(
            f"the program's process ended unexpectedly ({describe_exit(self.exit_code)})"
            + (f":\n{tail}" if tail else "")
        )

    def stderr_tail(self, limit: int = 2000) -> str:
        return bytes(self._stderr_tail[-limit:]).decode(errors="replace").strip()

    # -- the Session interface ------------------------------------------------------------
    def step_batch(self, states: list[Any], actions: list[Any]) -> list[dict[str, Any]]:
        message: dict[str, Any] = {"op": "step_batch"}
        for key, values in (("states", states), ("actions", actions)):
            array = numeric_batch(values)
            if array is not None and len(array) == len(values):
                message[key + "_npy"] = pack_array(array)
            else:
                message[key] = values
        answer = self.request(message, what="step a batch")
        try:
            if not answer.get("ok"):
                raise ValueError(str(answer.get("error", answer)))
            predictions = unpack_predictions(answer)
            if len(predictions) != len(states):
                raise ValueError(f"{len(predictions)} predictions for {len(states)} transitions")
        except (ValueError, TypeError) as exc:
            raise SandboxError(f"bad answer to step_batch: {str(exc)[:500]}") from None
        return [
            p if isinstance(p, dict) else {"error": "malformed prediction"} for p in predictions
        ]

    def plan(self, state: Any, planner: dict[str, Any], seed: int) -> Any:
        answer = self.request(
            {"op": "plan", "state": state, "planner": planner, "seed": seed}, what="plan"
        )
        if not answer.get("ok"):
            raise SandboxError(f"planning failed: {str(answer.get('error'))[:2000]}")
        return answer.get("action")

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(OSError):
            os.close(self.worker.stdin)  # a healthy worker ends its loop at EOF
        self.exit_code = self.worker.terminate(graceful=not self._broken)
        # What the program printed until the end is still worth showing in an error.
        while self._stderr_open and self._drain_stderr():
            pass
        for fd in (self.worker.stdout, self.worker.stderr):
            with contextlib.suppress(OSError):
                os.close(fd)

    def __enter__(self) -> WorkerSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
