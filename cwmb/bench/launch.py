"""Starting one job — `cwmb job` — in a container from the project image, or as a local process.

A job container gets exactly four things from the host: the train split and the description of
the run's tier (both read-only), its output folder, and the folder holding its own LLM gateway
socket (read-only); its environment holds only the gateway address, its token and the model id.
No network, read-only root, no capabilities, an unprivileged user, memory/process/CPU limits. The
reference programs and every description file in the image are blanked for every method except
`oracle`, whose whole point is to return the reference.

The output folder is a scratch folder that the host reads as untrusted input after the job (see
job_files.py). While the job runs, the host reads its output as a stream and keeps only the tail
(Docker keeps no log), and stops it at its time limit or when its folder goes over quota."""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from cwmb.bench.config import OUTPUT_QUOTA_BYTES
from cwmb.bench.job_files import folder_usage
from cwmb.errors import CwmbError
from cwmb.llm.job_server import SOCKET_NAME
from cwmb.runner import METHODS_PATH_VARIABLE
from cwmb.sandbox import docker_backend

JOB_SOCKET_DIR = "/run/cwmb-llm"
JOB_TRAIN = "/data/train.npz"
JOB_DESCRIPTION = "/data/description.md"
JOB_METHODS_DIR = "/methods"  # where a job container sees CWMB_METHODS_PATH (read-only)
JOB_LABEL = "cwmb.job"


@dataclass(frozen=True)
class JobSpec:
    method: str
    env: str
    seed: int
    budget: int
    out_dir: Path
    train_path: Path
    descriptions: str  # the description tier of the run
    description_path: Path  # that tier's text: the only description the job gets
    job_env: Callable[[str | None], dict[str, str]]  # socket path inside the job -> environment
    socket_dir: Path | None
    timeout_s: float
    methods_dir: Path | None = None  # CWMB_METHODS_PATH of the host, if set
    output_quota_bytes: int = OUTPUT_QUOTA_BYTES  # the job is stopped when out_dir holds more
    method_args: tuple[str, ...] = ()  # KEY=VALUE options of the method


@dataclass(frozen=True)
class LaunchResult:
    exit_code: int | None  # None: stopped by the host, see `stopped`
    output_tail: str
    stopped: str | None = None  # why the host stopped the job ("time limit", "output over quota")


class JobLauncher(Protocol):
    name: str
    note: str

    def run(self, job: JobSpec) -> LaunchResult: ...


def job_arguments(job: JobSpec, out: str, train: str, description: str) -> list[str]:
    return [
        "job",
        "--method",
        job.method,
        "--env",
        job.env,
        "--seed",
        str(job.seed),
        "--budget",
        str(job.budget),
        "--out",
        out,
        "--train",
        train,
        "--descriptions",
        job.descriptions,
        "--description-file",
        description,
        *(f"--method-arg={argument}" for argument in job.method_args),
    ]


OUTPUT_TAIL_BYTES = 16 << 10  # of a job's stdout and stderr, the host keeps only this much
OUTPUT_ENTRY_LIMIT = 20_000  # files and folders a job may create in its output folder
WATCH_INTERVAL_S = 0.5


def _keep_tail(stream: io.BufferedReader, tail: bytearray) -> None:
    """Read `stream` to its end, keeping only its last OUTPUT_TAIL_BYTES in `tail`."""
    for chunk in iter(lambda: stream.read1(1 << 16), b""):
        tail += chunk
        del tail[: max(0, len(tail) - OUTPUT_TAIL_BYTES)]


def _over_quota(job: JobSpec) -> bool:
    used, entries = folder_usage(job.out_dir, OUTPUT_ENTRY_LIMIT)
    return used > job.output_quota_bytes or entries > OUTPUT_ENTRY_LIMIT


def _wait(proc: subprocess.Popen[bytes], job: JobSpec, kill: Callable[[], None]) -> LaunchResult:
    """Wait for the job, streaming its output (only the tail is kept) and stopping it at its time
    limit or when its output folder goes over quota (checked every WATCH_INTERVAL_S)."""
    assert proc.stdout is not None
    tail = bytearray()
    reader = threading.Thread(target=_keep_tail, args=(proc.stdout, tail), daemon=True)
    reader.start()
    deadline = time.monotonic() + job.timeout_s
    stopped = None
    while proc.poll() is None and stopped is None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=max(0.0, min(WATCH_INTERVAL_S, deadline - time.monotonic())))
        if proc.returncode is not None:
            break
        if time.monotonic() >= deadline:
            stopped = "time limit"
        elif _over_quota(job):
            stopped = "output over quota"
    if stopped is not None:
        kill()
        proc.wait()
    reader.join(timeout=10)  # a process that escaped the kill may hold the pipe open
    text = bytes(tail).decode(errors="replace")[-4000:]
    return LaunchResult(None if stopped else proc.returncode, text, stopped)


def hide_host_process() -> None:
    """Make this (host) process non-dumpable: a same-user job can then no longer read its
    /proc/<pid>/environ or memory, where the API key lives."""
    if sys.platform != "linux":
        return
    import ctypes

    pr_set_dumpable = 4
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_dumpable, 0, 0, 0, 0)


class ProcessLauncher:
    name = "process"
    note = (
        "jobs run as local processes: they cannot reach the API key, but nothing stops a "
        "hostile method from reading files on this machine (held-out splits, references, the "
        "other description tier) — use Docker for untrusted methods"
    )

    def __init__(self) -> None:
        hide_host_process()

    def run(self, job: JobSpec) -> LaunchResult:
        command = [
            sys.executable,
            "-m",
            "cwmb.cli",
            *job_arguments(job, str(job.out_dir), str(job.train_path), str(job.description_path)),
        ]
        env = job.job_env(None)
        if job.methods_dir is not None:
            env[METHODS_PATH_VARIABLE] = str(job.methods_dir.resolve())
        proc = subprocess.Popen(
            command,
            env=env,
            cwd=job.out_dir,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

        def kill() -> None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)

        try:
            return _wait(proc, job, kill)
        finally:
            kill()  # nothing a job started may outlive it


class DockerLauncher:
    name = "docker"
    note = "each job runs in its own container (no network, read-only, unprivileged)"

    def __init__(self, image: str | None = None, memory_mb: int = 6144, cpus: float = 1.0):
        problem = docker_backend.docker_problem(image)
        if problem:
            raise CwmbError(f"cannot run jobs in Docker: {problem}")
        self.image = image or docker_backend.image_name()
        self.image_id = docker_backend.image_id(self.image) or self.image
        self.memory_mb = memory_mb
        self.cpus = cpus

    def _user(self, out_dir: Path) -> str:
        if os.getuid() == 0:  # as root, hand the output folder to the image's unprivileged user
            uid, gid = (int(x) for x in docker_backend.SANDBOX_USER.split(":"))
            os.chown(out_dir, uid, gid)
            return docker_backend.SANDBOX_USER
        return f"{os.getuid()}:{os.getgid()}"

    def container_args(self, job: JobSpec, name: str, env_file: Path) -> list[str]:
        """`docker run` and every option of the job's container, up to its entry point."""
        docker = shutil.which("docker") or "docker"
        args = [
            docker, "run", "--rm", "--name", name, "--label", JOB_LABEL,
            "--network", "none", "--read-only", "--ipc", "private",
            "--tmpfs", "/tmp:rw,nosuid,nodev,size=512m,mode=1777",
            "--memory", f"{self.memory_mb}m", "--memory-swap", f"{self.memory_mb}m",
            "--pids-limit", "512", "--cpus", str(self.cpus),
            "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
            "--log-driver", "none",  # the host reads the output as a stream; nothing on disk
            "--user", self._user(job.out_dir), "--workdir", "/tmp",
            "--env-file", str(env_file),
            "--volume", f"{job.train_path.resolve()}:{JOB_TRAIN}:ro",
            "--volume", f"{job.description_path.resolve()}:{JOB_DESCRIPTION}:ro",
            "--volume", f"{job.out_dir.resolve()}:/out:rw",
        ]  # fmt: skip
        if job.socket_dir is not None:
            # Read-only: connecting needs no write access, replacing the socket would.
            args += ["--volume", f"{job.socket_dir}:{JOB_SOCKET_DIR}:ro"]
        if job.methods_dir is not None:
            args += ["--volume", f"{job.methods_dir.resolve()}:{JOB_METHODS_DIR}:ro"]
        if job.method != "oracle":
            for path in docker_backend.hidden_files(self.image_id):
                args += ["--volume", f"/dev/null:{path}:ro"]
        return args

    def command(self, job: JobSpec, name: str, env_file: Path) -> list[str]:
        return [
            *self.container_args(job, name, env_file),
            "--entrypoint",
            "python",
            self.image_id,
            "-m",
            "cwmb.cli",
            *job_arguments(job, "/out", JOB_TRAIN, JOB_DESCRIPTION),
        ]

    def run(self, job: JobSpec) -> LaunchResult:
        name = f"cwmb-job-{uuid.uuid4().hex[:12]}"
        socket = f"{JOB_SOCKET_DIR}/{SOCKET_NAME}" if job.socket_dir is not None else None
        with tempfile.TemporaryDirectory(prefix="cwmb-jobenv-") as tmp:
            env_file = Path(tmp) / "env"  # the token travels in a 0600 file, not on a command line
            env = {k: v for k, v in job.job_env(socket).items() if k != "PATH"}
            if job.methods_dir is not None:
                env[METHODS_PATH_VARIABLE] = JOB_METHODS_DIR
            env_file.write_text("".join(f"{k}={v}\n" for k, v in env.items()))
            os.chmod(env_file, 0o600)
            proc = subprocess.Popen(
                self.command(job, name, env_file),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
            )

            def kill() -> None:
                subprocess.run(
                    [shutil.which("docker") or "docker", "rm", "--force", name],
                    capture_output=True,
                    check=False,
                    timeout=60,
                )

            try:
                return _wait(proc, job, kill)
            finally:
                kill()


def get_launcher(isolation: str) -> JobLauncher:
    """`docker` when asked or when an engine and the image are there (auto); else `process`."""
    if isolation == "process":
        return ProcessLauncher()
    if isolation == "docker" or docker_backend.docker_problem() is None:
        return DockerLauncher()
    return ProcessLauncher()
