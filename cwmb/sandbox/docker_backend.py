"""The `docker` backend: each session is a container from the project image running the worker.

The container talks to the host over `docker run -i` stdin/stdout (the same protocol as every
backend; the program travels in the load request). A program's container has every package folder
of the image covered by an empty read-only mount and runs the base interpreter on the standard
library plus the image's program library (numpy and the worker: see `program_view.py`); a trusted
reference's container sees the whole image, the shipped references, masks and descriptions
blanked. It has no network, a read-only root with a small /tmp, memory, process and CPU limits, no capabilities, no-new-privileges, and runs as the image's unprivileged user. It is
started with `--rm` and killed at close, so no container outlives its session."""

from __future__ import annotations

import atexit
import contextlib
import functools
import json
import os
import shutil
import signal
import subprocess
import threading
import time
import uuid
from typing import Any

from cwmb.sandbox.base import Limits, ProgramFormats, SandboxError
from cwmb.sandbox.process import clean_environment
from cwmb.sandbox.program_view import check_profile
from cwmb.sandbox.session import GRACE_SECONDS, PopenWorker, WorkerSession

DEFAULT_IMAGE = "cwmb:latest"
SANDBOX_USER = "10001:10001"  # the image's unprivileged user (see Dockerfile)
LABEL = "cwmb.sandbox"  # every sandbox container carries it, so leftovers are easy to find
NAME_PREFIX = "cwmb-sandbox-"
WORKER = "cwmb.sandbox.worker"
# Variables the docker client itself may need; nothing else from the host reaches it.
CLIENT_VARIABLES = (
    "PATH",
    "HOME",
    "DOCKER_HOST",
    "DOCKER_CONFIG",
    "DOCKER_CONTEXT",
    "DOCKER_TLS_VERIFY",
    "DOCKER_CERT_PATH",
)


def image_name() -> str:
    return os.environ.get("CWMB_IMAGE") or DEFAULT_IMAGE


def _docker() -> str | None:
    return shutil.which("docker")


def _client_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k in CLIENT_VARIABLES}


def _run(args: list[str], timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
    docker = _docker()
    if docker is None:
        raise SandboxError("the docker command is not installed")
    return subprocess.run(
        [docker, *args], capture_output=True, text=True, timeout=timeout, env=_client_env()
    )


@functools.lru_cache(maxsize=1)
def engine_answers() -> bool:
    """Whether a Docker engine answers here (asked once per process)."""
    try:
        return _run(["version", "--format", "{{.Server.Version}}"], timeout=10).returncode == 0
    except (SandboxError, OSError, subprocess.TimeoutExpired):
        return False


def image_id(image: str) -> str | None:
    try:
        result = _run(["image", "inspect", "--format", "{{.Id}}", image], timeout=20)
    except (SandboxError, OSError, subprocess.TimeoutExpired):
        return None
    return result.stdout.strip() if result.returncode == 0 else None


def docker_problem(image: str | None = None) -> str | None:
    """Why the docker backend cannot run here, or None when it can."""
    if _docker() is None:
        return "the docker command is not installed"
    if not engine_answers():
        return "no Docker engine answers (start dockerd, e.g. `bash .ci/docker-engine.sh`)"
    image = image or image_name()
    if image_id(image) is None:
        return f"the image {image} is missing (build it with `make image`)"
    return None


@functools.lru_cache(maxsize=8)
def image_layout(image_id: str) -> dict[str, Any]:
    """Where the image keeps its interpreter, the program library, its package folders and its
    reference programs (see `program_view.image_layout`), asked once per image."""
    command = ["run", "--rm", "--network", "none", "--label", LABEL, "--entrypoint", "python"]
    command += [image_id, "-I", "-m", "cwmb.sandbox.program_view", "--layout"]
    result = _run(command, timeout=120)
    if result.returncode != 0:
        raise SandboxError(
            f"cannot inspect the image {image_id[:19]} (a stale one? rebuild it with `make image`): "
            f"{result.stderr.strip()[-500:]}"
        )
    layout: dict[str, Any] = json.loads(result.stdout)
    if not layout.get("library"):
        raise SandboxError(
            "the image has no program library (a stale image: rebuild it with `make image`)"
        )
    return layout


def hidden_files(image_id: str) -> tuple[str, ...]:
    """Paths inside the image of the environment files no sandbox may read (`HIDDEN_ENV_FILES`)."""
    return tuple(image_layout(image_id)["hidden"])


def profile_arguments(layout: dict[str, Any], profile: str, memory_mb: int) -> list[str]:
    """The mounts, entrypoint and command of a sandbox container in `profile`: a program gets
    every package folder covered by an empty read-only mount and runs the base interpreter on
    the standard library and the program library only; a reference gets the whole image, its
    fellow references blanked."""
    memory = ["--memory-mb", str(memory_mb)]
    if check_profile(profile) == "reference":
        args = [arg for path in layout["hidden"] for arg in ("--volume", f"/dev/null:{path}:ro")]
        return [*args, "--entrypoint", "python", "{image}", "-I", "-m", WORKER, *memory]
    args = [arg for path in layout["masked"] for arg in ("--tmpfs", f"{path}:ro,size=4k")]
    start = (
        f"import sys; sys.path.insert(0, {layout['library']!r}); import {WORKER}; {WORKER}.main()"
    )
    return [*args, "--entrypoint", layout["python"], "{image}", "-I", "-S", "-c", start, *memory]


def leftover_containers() -> list[str]:
    """Names of sandbox containers that still exist (for tests and clean-up)."""
    result = _run(["ps", "-a", "--filter", f"label={LABEL}", "--format", "{{.Names}}"])
    return result.stdout.split()


class DockerExecutor:
    name = "docker"
    isolation_note = (
        "Docker container per session (no network, read-only root, no capabilities, "
        "no-new-privileges, unprivileged user, memory/process/CPU limits)"
    )
    complete = True

    def __init__(self, image: str | None = None, prewarm: bool = False):
        """`prewarm`: keep one started container in reserve, so that opening a session does not
        wait for a container start (for callers that open many sessions; `shutdown()` or the
        end of the process removes the spare)."""
        self.image = image or image_name()
        self._image_id: str | None = None
        self.prewarm = prewarm
        self._spare: tuple[tuple[Limits, str], DockerWorker] | None = None
        self._lock = threading.Lock()
        self.started: list[str] = []  # names of the containers this executor started
        if prewarm:
            atexit.register(self.shutdown)

    @property
    def image_id(self) -> str:
        if self._image_id is None:
            found = image_id(self.image)
            if found is None:
                raise SandboxError(
                    f"the image {self.image} is missing (build it with `make image`)"
                )
            self._image_id = found
        return self._image_id

    def command(self, name: str, limits: Limits, profile: str = "program") -> list[str]:
        docker = _docker()
        assert docker is not None
        mb = 1024 * 1024
        cpu = limits.cpu_seconds
        args = [
            docker, "run", "-i", "--rm", "--name", name, "--label", LABEL,
            "--network", "none", "--ipc", "private", "--hostname", "sandbox",
            "--read-only",
            "--tmpfs", f"/tmp:rw,nosuid,nodev,noexec,size={limits.tmp_mb}m,mode=1777",
            "--shm-size", f"{limits.tmp_mb}m",
            "--memory", f"{limits.memory_mb}m", "--memory-swap", f"{limits.memory_mb}m",
            "--pids-limit", str(limits.processes), "--cpus", "1",
            "--ulimit", f"cpu={cpu}:{cpu + 1}",
            "--ulimit", f"fsize={limits.file_size_mb * mb}",
            "--ulimit", f"nofile={limits.open_files}:{limits.open_files}",
            "--ulimit", "core=0",
            "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
            "--user", SANDBOX_USER, "--workdir", "/tmp",
            # The container's output is the protocol: never also write it to a log on the host.
            "--log-driver", "none",
        ]  # fmt: skip
        for key, value in clean_environment().items():
            if key != "PATH":
                args += ["--env", f"{key}={value}"]
        rest = profile_arguments(image_layout(self.image_id), profile, limits.memory_mb)
        return args + [self.image_id if arg == "{image}" else arg for arg in rest]

    def _start(self, limits: Limits, profile: str) -> DockerWorker:
        name = NAME_PREFIX + uuid.uuid4().hex[:12]
        self.started.append(name)
        return DockerWorker(self.command(name, limits, profile), name)

    def _take_spare(self, limits: Limits, profile: str) -> DockerWorker | None:
        with self._lock:
            spare, self._spare = self._spare, None
        if spare is None:
            return None
        spare_kind, worker = spare
        if spare_kind == (limits, profile) and worker.proc.poll() is None:
            return worker
        worker.close_pipes()
        worker.terminate(graceful=False)
        return None

    def _refill(self, limits: Limits, profile: str) -> None:
        def start() -> None:
            worker = self._start(limits, profile)
            with self._lock:
                old, self._spare = self._spare, ((limits, profile), worker)
            if old is not None:
                old[1].close_pipes()
                old[1].terminate(graceful=False)

        threading.Thread(target=start, daemon=True).start()

    def open(
        self,
        source: str,
        formats: ProgramFormats,
        limits: Limits | None = None,
        profile: str = "program",
    ) -> WorkerSession:
        limits = limits or Limits()
        worker = self._take_spare(limits, profile) if self.prewarm else None
        if worker is None:
            worker = self._start(limits, profile)
        if self.prewarm:
            self._refill(limits, profile)
        return WorkerSession(worker, source, formats, limits)

    def shutdown(self) -> None:
        """Remove the spare container, if any."""
        with self._lock:
            spare, self._spare = self._spare, None
        if spare is not None:
            spare[1].close_pipes()
            spare[1].terminate(graceful=False)


class DockerWorker(PopenWorker):
    """`docker run -i` as the worker process; ending it removes the container."""

    def __init__(self, command: list[str], name: str):
        super().__init__(command, env=_client_env())
        self.name = name

    def close_pipes(self) -> None:
        """For a spare no session took over: the host's pipe ends are ours to close."""
        for fd in (self.stdin, self.stdout, self.stderr):
            with contextlib.suppress(OSError):
                os.close(fd)

    def terminate(self, graceful: bool) -> int | None:
        if graceful:  # a healthy worker exits at EOF and --rm removes its container
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=GRACE_SECONDS)
        if self.proc.poll() is None:
            # The client first: a client stuck on a full pipe can hold up the engine's removal.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
            _remove(self.name)
        code = self.proc.returncode
        # `docker run` reports a worker killed by signal N as 128 + N.
        return -(code - 128) if 128 < code <= 128 + 64 else code


def _remove(name: str, wait_s: float = 30.0) -> None:
    """Kill and remove a sandbox container (it may already be gone), and wait until it is: when
    the engine is already removing it (`--rm`), `docker rm` returns before the removal ends."""
    with contextlib.suppress(SandboxError, OSError, subprocess.TimeoutExpired):
        _run(["rm", "--force", name], timeout=60)
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            if _run(["container", "inspect", "--format", "{{.Id}}", name]).returncode != 0:
                return
            time.sleep(0.1)
