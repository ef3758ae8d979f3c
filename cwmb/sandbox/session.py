"""The host side of a worker session: send a request, wait for one answer line within limits.

Backends only decide how the worker process is started (`command`, `preexec_fn`, environment);
the request/answer loop, the deadlines and the clean-up are shared here."""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from cwmb.sandbox.base import Limits, ProgramFormats, SandboxError
from cwmb.sandbox.protocol import decode, encode


class WorkerSession:
    def __init__(
        self,
        command: Sequence[str],
        source: str,
        formats: ProgramFormats,
        limits: Limits,
        env: dict[str, str],
        preexec_fn: Callable[[], None] | None = None,
        cwd: str | None = None,
        on_close: Callable[[], None] | None = None,
    ):
        self.limits = limits
        self._on_close = on_close
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the session
        self._buffer = b""
        self.proc = subprocess.Popen(
            list(command),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            env=env,
            cwd=cwd,
            preexec_fn=preexec_fn,
            start_new_session=True,
        )
        answer = self.request(
            {
                "op": "load",
                "source": source,
                "observation": formats.observation,
                "action": formats.action,
            },
            timeout=limits.load_seconds,
        )
        if not answer.get("ok"):
            self.close()
            raise SandboxError(f"program failed to load:\n{answer.get('error', '').strip()}")

    # -- requests -------------------------------------------------------------------------
    def request(self, message: dict[str, Any], timeout: float | None = None) -> dict[str, Any]:
        deadline = time.monotonic() + (timeout if timeout is not None else self.limits.wall_seconds)
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(encode(message))
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            raise self._died() from None
        line = self._read_line(deadline)
        try:
            return decode(line)
        except ValueError:
            self.close()
            raise SandboxError("the program broke the sandbox protocol (garbled answer)") from None

    def _read_line(self, deadline: float) -> bytes:
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        cap = self.limits.output_mb * 1024 * 1024
        with selectors.DefaultSelector() as selector:
            selector.register(fd, selectors.EVENT_READ)
            while b"\n" not in self._buffer:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    self.close()
                    raise SandboxError(
                        f"the program did not answer within {self._limit_text(deadline)}"
                    )
                if not selector.select(remaining):
                    continue
                chunk = os.read(fd, 1 << 20)
                if not chunk:
                    raise self._died()
                self._buffer += chunk
                if len(self._buffer) > cap:
                    self.close()
                    raise SandboxError(f"the program's answer exceeded {self.limits.output_mb} MB")
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line

    def _limit_text(self, deadline: float) -> str:
        return "its time limit"

    def _died(self) -> SandboxError:
        code = self.proc.poll()
        if code is None:
            try:
                code = self.proc.wait(timeout=1)
            except subprocess.TimeoutExpired:
                code = None
        tail = self.stderr_tail()
        self.close()
        how = f"signal {-code}" if code is not None and code < 0 else f"exit status {code}"
        return SandboxError(
            f"the program's process ended unexpectedly ({how})" + (f":\n{tail}" if tail else "")
        )

    def stderr_tail(self, limit: int = 2000) -> str:
        try:
            self._stderr.seek(0, os.SEEK_END)
            size = self._stderr.tell()
            self._stderr.seek(max(0, size - limit))
            return self._stderr.read().decode(errors="replace").strip()
        except (OSError, ValueError):
            return ""

    # -- the Session interface ------------------------------------------------------------
    def step_batch(self, states: list[Any], actions: list[Any]) -> list[dict[str, Any]]:
        answer = self.request({"op": "step_batch", "states": states, "actions": actions})
        predictions = answer.get("predictions")
        if (
            not answer.get("ok")
            or not isinstance(predictions, list)
            or len(predictions) != len(states)
        ):
            raise SandboxError(
                f"bad answer to step_batch: {str(answer.get('error', answer))[:500]}"
            )
        return [
            p if isinstance(p, dict) else {"error": "malformed prediction"} for p in predictions
        ]

    def plan(self, state: Any, planner: dict[str, Any], seed: int) -> Any:
        answer = self.request({"op": "plan", "state": state, "planner": planner, "seed": seed})
        if not answer.get("ok"):
            raise SandboxError(f"planning failed: {str(answer.get('error'))[:2000]}")
        return answer.get("action")

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                self.proc.kill()
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                if stream:
                    stream.close()
            except OSError:
                pass
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)
        self._stderr.close()
        if self._on_close:
            callback, self._on_close = self._on_close, None
            callback()

    def __enter__(self) -> WorkerSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def project_pythonpath() -> str:
    """The directory that holds the `cwmb` package, for workers started with `python -I`."""
    return str(Path(__file__).resolve().parents[2])
