"""The executor interface: how the trusted side runs an untrusted program.

An `Executor` opens a `Session` for one program. The session loads the program once, then answers
many requests. Requests and answers are plain JSON values; every conversion and comparison happens
on the trusted side. Backends (plain process, hardened process, Docker) differ only in how the
worker process is started and contained; they all speak the protocol in `protocol.py`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from cwmb.errors import CwmbError

# Files of the environment packages (globs under cwmb/envs/) that no sandbox and no job may read:
# the answer key (references, masks) and every description tier, so that a job sees only the
# tier its run chose, which the host hands it as a file of its own.
HIDDEN_ENV_FILES = ("*/reference.py", "*/mask.py", "*/description*.md")


class SandboxError(CwmbError):
    """The program could not be run to an answer (load failure, crash, timeout, protocol abuse)."""


@dataclass(frozen=True)
class Limits:
    """Per-request limits of a session. Defaults suit scoring a few thousand transitions."""

    wall_seconds: float = 60.0  # per request
    load_seconds: float = 20.0  # loading the program
    cpu_seconds: int = 600  # whole session
    memory_mb: int = 1024
    processes: int = 64
    file_size_mb: int = 16  # largest file a program may write
    open_files: int = 256
    tmp_mb: int = 64  # size of the sandbox's private /tmp
    output_mb: int = 32  # largest answer accepted

    def os_limits(self) -> dict[str, int]:
        """The limits the operating system enforces inside the sandbox."""
        return {
            "cpu_seconds": self.cpu_seconds,
            "memory_mb": self.memory_mb,
            "processes": self.processes,
            "file_size_mb": self.file_size_mb,
            "open_files": self.open_files,
            "tmp_mb": self.tmp_mb,
        }


@dataclass(frozen=True)
class ProgramFormats:
    """What the worker needs to hand states and actions to the program in the contract's types."""

    observation: dict[str, Any]
    action: dict[str, Any]


class Session(Protocol):
    def step_batch(self, states: list[Any], actions: list[Any]) -> list[dict[str, Any]]:
        """For each (state, action): set_state, step; one plain prediction dict per pair:
        {"next_state", "reward", "done", "error"}."""

    def plan(self, state: Any, planner: dict[str, Any], seed: int) -> Any:
        """Run the named planner with the program as its model from `state`; return the action."""

    def close(self) -> None: ...

    def __enter__(self) -> Session: ...

    def __exit__(self, *exc: object) -> None: ...


class Executor(Protocol):
    name: str

    @property
    def isolation_note(self) -> str:
        """One line saying how strong the isolation is."""

    def open(
        self,
        source: str,
        formats: ProgramFormats,
        limits: Limits | None = None,
        profile: str = "program",
    ) -> Session:
        """`profile` (see program_view.py) is the host's choice from what it runs: "program"
        for anything untrusted, "reference" only for the project's own reference programs."""
