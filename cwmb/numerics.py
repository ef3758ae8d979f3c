"""One set of floating-point kernels for everything that must give the same bytes on any machine.

OpenBLAS picks its kernels by CPU at load time, and the kernels round differently: Reacher's
reward goes through `np.linalg.norm` (a BLAS dot product), so a dataset recorded on an AVX-512
machine differed in the last bits of 15 rewards from the same collection on an AVX2 machine.
Collection therefore runs with the generic kernel set that every x86-64 CPU has. The variable must
be set before numpy is first imported, so `cwmb collect` restarts itself with it."""

from __future__ import annotations

import os
import platform
import sys
from typing import NoReturn

# Kernels every x86-64 CPU runs (SSE3). Other architectures keep OpenBLAS's own choice.
PINNED_KERNELS = (
    {"OPENBLAS_CORETYPE": "Prescott"} if platform.machine() in ("x86_64", "AMD64") else {}
)


def kernels_pinned(environ: os._Environ[str] | dict[str, str] | None = None) -> bool:
    environ = os.environ if environ is None else environ
    return all(environ.get(k) == v for k, v in PINNED_KERNELS.items())


def restart_with_pinned_kernels(arguments: list[str]) -> NoReturn:
    """Replace this process with `python -m cwmb.cli ARGUMENTS` under the pinned kernels."""
    env = {**os.environ, **PINNED_KERNELS}
    os.execve(sys.executable, [sys.executable, "-m", "cwmb.cli", *arguments], env)
