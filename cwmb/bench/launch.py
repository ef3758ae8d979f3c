"""Starting one job — `cwmb job` — in a container from the project image, or as a confined local
process.

A job gets exactly these things from the host (`job_mounts`): the train split and the description
of the run's tier (both read-only), its output folder, the folder holding its own LLM gateway
socket (read-only: connecting needs no write access, replacing the socket would) and the methods
folder (read-only); its environment holds only the gateway address, its token and the model id.
No network, read-only root, no capabilities, an unprivileged user, memory/process limits. What
the installation holds beyond that (reference programs and masks in any form, the simulators, the
datasets, every description file: `cwmb.sandbox.job_view`) is blanked, except what the method
declares a capability for (`cwmb.capabilities`). Without Docker the same view is built for a local
process by `cwmb.sandbox.job_confine`.

The output folder is a scratch folder that the host reads as untrusted input after the job (see
job_files.py). While the job runs, the host reads its output as a stream and keeps only the tail
(Docker keeps no log), and stops it at its time limit or when its folder goes over quota."""

from __future__ import annotations

import contextlib
import functools
import io
import json
import os
import random
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
from typing import Any, Protocol

from cwmb.bench.config import OUTPUT_QUOTA_BYTES
from cwmb.bench.job_files import folder_usage
from cwmb.errors import CwmbError
from cwmb.llm.job_server import SOCKET_NAME
from cwmb.runner import METHODS_PATH_VARIABLE
from cwmb.sandbox import docker_backend, job_confine, job_view
from cwmb.sandbox.confine import UID_SPAN
from cwmb.sandbox.job_confine import Mount

JOB_SOCKET_DIR = "/run/cwmb-llm"
JOB_TRAIN = "/data/train.npz"
JOB_DESCRIPTION = "/data/description.md"
JOB_METHODS_DIR = "/methods"  # where a job container sees CWMB_METHODS_PATH (read-only)
JOB_LABEL = "cwmb.job"
JOB_OUT = "/out"


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
    capabilities: frozenset[str] = frozenset()  # what the method declares (cwmb.capabilities)
    method_args: tuple[str, ...] = ()  # KEY=VALUE options of the method


@dataclass(frozen=True)
class LaunchResult:
    exit_code: int | None  # None: stopped by the host, see `stopped`
    output_tail: str
    stopped: str | None = None  # why the host stopped the job ("time limit", "output over quota")


class JobLauncher(Protocol):
    name: str
    note: str
    confinement: dict[str, Any]  # {"features": [...], "problems": [...]}, as recorded in a run

    def run(self, job: JobSpec) -> LaunchResult: ...


def job_mounts(job: JobSpec) -> list[Mount]:
    """What a job sees of the host, at the paths it sees it: the same for both launchers."""
    mounts = [
        Mount(str(job.train_path.resolve()), JOB_TRAIN),
        Mount(str(job.description_path.resolve()), JOB_DESCRIPTION),
        Mount(str(job.out_dir.resolve()), JOB_OUT, writable=True),
    ]
    if job.socket_dir is not None:
        mounts.append(Mount(str(job.socket_dir), JOB_SOCKET_DIR))
    if job.methods_dir is not None:
        mounts.append(Mount(str(job.methods_dir.resolve()), JOB_METHODS_DIR))
    return mounts


def job_environment(job: JobSpec) -> dict[str, str]:
    """The job's environment, with the gateway and the methods folder where the job sees them."""
    socket = f"{JOB_SOCKET_DIR}/{SOCKET_NAME}" if job.socket_dir is not None else None
    env = job.job_env(socket)
    if job.methods_dir is not None:
        env[METHODS_PATH_VARIABLE] = JOB_METHODS_DIR
    return env


def job_arguments(
    job: JobSpec, out: str = JOB_OUT, train: str = JOB_TRAIN, description: str = JOB_DESCRIPTION
) -> list[str]:
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
PROBE_TIMEOUT_S = 60.0  # the process launcher's one trial run of its confinement


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


def _probe_wait(proc: subprocess.Popen[bytes], kill: Callable[[], None]) -> LaunchResult:
    try:
        output, _ = proc.communicate(timeout=PROBE_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        kill()
        output, _ = proc.communicate()
        return LaunchResult(None, output.decode(errors="replace")[-4000:], "time limit")
    return LaunchResult(proc.returncode, output.decode(errors="replace")[-4000:])


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
    """Each job in namespaces, a filesystem view and a uid of its own (`job_confine`), as far as
    the OS allows; `note` says in one line what it refused."""

    name = "process"

    def __init__(self) -> None:
        hide_host_process()
        self.trees, self.links = job_confine.code_trees()
        self.root = os.geteuid() == 0
        self.required: list[str] = []  # the probe requires nothing; jobs what the probe got
        self.confinement = self._run_box([sys.executable, "-I", "-c", "pass"], [], None, {})[1]
        self.required = list(self.confinement.get("features", []))
        self.view = "filesystem" in self.required
        self.note = "jobs run as local processes, " + job_confine.describe(self.confinement)
        missing = [f for f in job_confine.JOB_FEATURES if f not in self.confinement["features"]]
        if missing:
            self.note += f"; not enforced: {', '.join(missing)} — use Docker for untrusted methods"

    @functools.cache  # noqa: B019 (one launcher per bench)
    def _withheld(self, capabilities: frozenset[str]) -> job_view.Withheld:
        return job_view.withheld(capabilities, make_caches=True)

    def _run_box(
        self,
        command: list[str],
        mounts: list[Mount],
        job: JobSpec | None,
        env: dict[str, str],
    ) -> tuple[LaunchResult, dict[str, Any]]:
        withheld = self._withheld(job.capabilities if job else frozenset())
        uid = job_confine.JOB_UID_BASE + random.randrange(UID_SPAN) if self.root else None
        if uid is not None and job is not None:
            os.chown(job.out_dir, uid, uid)  # the one folder the job may write
        with tempfile.TemporaryDirectory(prefix="cwmb-job-root-") as root:
            box = job_confine.JobBox(
                command, root, self.trees, self.links, list(withheld.files),
                list(withheld.folders), mounts, uid, require=self.required,
            )  # fmt: skip
            return self._start_box(box, job, env)

    def _start_box(
        self, box: job_confine.JobBox, job: JobSpec | None, env: dict[str, str]
    ) -> tuple[LaunchResult, dict[str, Any]]:
        report_r, report_w = os.pipe()
        try:
            proc = subprocess.Popen(
                [
                    sys.executable,
                    "-I",
                    "-m",
                    "cwmb.sandbox.job_confine",
                    box.to_json(),
                    str(report_w),
                ],
                env=env,
                cwd=job.out_dir if job else "/",
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                pass_fds=(report_w,),
            )
        finally:
            os.close(report_w)

        def kill() -> None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)

        try:
            # The probe (no job) prints nothing and has a fixed time limit.
            result = _probe_wait(proc, kill) if job is None else _wait(proc, job, kill)
        finally:
            kill()  # the helper's PID 1 dies with it, and the whole namespace with that
        return result, job_confine.read_report(report_r)

    def run(self, job: JobSpec) -> LaunchResult:
        if self.view:
            mounts, arguments, env = job_mounts(job), job_arguments(job), job_environment(job)
            env["HOME"] = "/tmp"  # as in the image: no home folder is in the view
        else:  # no view to mount into: the job sees the host's paths
            mounts = []
            arguments = job_arguments(
                job, str(job.out_dir), str(job.train_path), str(job.description_path)
            )
            env = job.job_env(None)
            if job.methods_dir is not None:
                env[METHODS_PATH_VARIABLE] = str(job.methods_dir.resolve())
        command = [sys.executable, "-m", "cwmb.cli", *arguments]
        result, report = self._run_box(command, mounts, job, env)
        if report.get("features") != self.confinement.get("features"):
            note = f"[cwmb: this job was {job_confine.describe(report)}]\n"
            tail = (note + result.output_tail)[-4000:]
            result = LaunchResult(result.exit_code, tail, result.stopped)
        return result


@functools.lru_cache(maxsize=8)
def withheld_in_image(image_id: str, capabilities: frozenset[str]) -> job_view.Withheld:
    """What a job with `capabilities` must not see inside the image (asked of the image itself)."""
    result = docker_backend._run(
        ["run", "--rm", "--network", "none", "--label", JOB_LABEL, "--entrypoint", "python",
         image_id, "-I", "-m", "cwmb.sandbox.job_view", *sorted(capabilities)],
        timeout=120,
    )  # fmt: skip
    try:
        data = json.loads(result.stdout)
        return job_view.Withheld(tuple(data["files"]), tuple(data["folders"]))
    except (ValueError, KeyError, TypeError) as exc:
        raise CwmbError(
            f"cannot list what jobs must not see in the image {image_id}: "
            f"{result.stderr.strip()[-500:] or exc} (rebuild it with `make image`)"
        ) from exc


class DockerLauncher:
    name = "docker"
    note = "each job runs in its own container (no network, read-only, unprivileged)"
    confinement = {"features": list(job_confine.JOB_FEATURES), "problems": []}

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
        ]  # fmt: skip
        for mount in job_mounts(job):
            args += [
                "--volume",
                f"{mount.source}:{mount.target}:{'rw' if mount.writable else 'ro'}",
            ]
        withheld = withheld_in_image(self.image_id, job.capabilities)
        for path in withheld.files:
            args += ["--volume", f"/dev/null:{path}:ro"]
        for path in withheld.folders:
            args += ["--tmpfs", f"{path}:ro,{job_confine.WITHHELD_TMPFS}"]
        return args

    def command(self, job: JobSpec, name: str, env_file: Path) -> list[str]:
        return [
            *self.container_args(job, name, env_file),
            "--entrypoint",
            "python",
            self.image_id,
            "-m",
            "cwmb.cli",
            *job_arguments(job),
        ]

    def run(self, job: JobSpec) -> LaunchResult:
        name = f"cwmb-job-{uuid.uuid4().hex[:12]}"
        with tempfile.TemporaryDirectory(prefix="cwmb-jobenv-") as tmp:
            env_file = Path(tmp) / "env"  # the token travels in a 0600 file, not on a command line
            env = {k: v for k, v in job_environment(job).items() if k != "PATH"}
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
