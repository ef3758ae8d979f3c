"""The `process` backend: the worker runs as a local child process with a scrubbed environment.

This is the plain executor; the hardening (rlimits, namespaces) is layered on in `limits.py`."""

from __future__ import annotations

import sys
import tempfile

from cwmb.sandbox.base import Limits, ProgramFormats
from cwmb.sandbox.session import WorkerSession

WORKER_COMMAND = [sys.executable, "-I", "-m", "cwmb.sandbox.worker"]


def clean_environment() -> dict[str, str]:
    """The only variables a worker gets: nothing from the host (no API keys, no tokens)."""
    return {
        "PATH": "/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
    }


class ProcessExecutor:
    name = "process"
    isolation_note = "programs run as local processes (no container)"

    def open(
        self, source: str, formats: ProgramFormats, limits: Limits | None = None
    ) -> WorkerSession:
        workdir = tempfile.TemporaryDirectory(prefix="cwmb-sandbox-")
        return WorkerSession(
            WORKER_COMMAND,
            source,
            formats,
            limits or Limits(),
            env=clean_environment(),
            cwd=workdir.name,
            on_close=workdir.cleanup,
        )
