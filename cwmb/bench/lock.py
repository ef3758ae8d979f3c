"""One bench per results folder: an exclusive `flock` on `<run>/bench.lock`, which names its
holder (pid and host). The kernel drops the lock when its holder dies, so a lock left by a
killed bench is simply taken over; the file itself stays (removing it would let two benches lock
two different files of the same name)."""

from __future__ import annotations

import fcntl
import os
import socket
import sys
from pathlib import Path
from types import TracebackType

from cwmb.errors import CwmbError

LOCK_NAME = "bench.lock"


class FolderInUse(CwmbError):
    pass


class FolderLock:
    def __init__(self, folder: Path):
        self.folder = folder
        self.path = folder / LOCK_NAME
        self._fd: int | None = None

    def acquire(self) -> None:
        flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
        try:
            fd = os.open(self.path, flags, 0o644)
        except OSError as exc:
            raise CwmbError(f"cannot lock {self.folder}: {exc.strerror} ({self.path})") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            os.close(fd)
            raise FolderInUse(
                f"results folder {self.folder} is in use by another bench ({holder}); "
                "wait for it to finish or choose another --run-id"
            ) from None
        previous = _holder(fd)
        if previous != "holder unknown":
            print(f"cwmb: taking over the stale lock of {previous}", file=sys.stderr)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} on host {socket.gethostname()}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is None:
            return
        os.ftruncate(self._fd, 0)  # an empty lock file names no holder
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> FolderLock:
        self.acquire()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()


def _holder(fd: int) -> str:
    text = os.pread(fd, 256, 0).decode(errors="replace").strip()
    return text.splitlines()[0] if text else "holder unknown"
