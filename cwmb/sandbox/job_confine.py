"""A process-mode job, confined like a program sandbox (`python -I -m cwmb.sandbox.job_confine`).

Without Docker, the bench still runs each job in a box of its own. This helper, started by the
process launcher with the box's description (a `JobBox` as JSON) on its command line:
- enters new mount, PID, network, IPC and UTS namespaces (`confine.enter_namespaces`; a user
  namespace too when not root) and forks; the child is PID 1 of the new PID namespace;
- PID 1 builds the filesystem view a job container has: the system libraries and the Python
  installation read-only, with the withheld paths (`job_view`) blanked or emptied, the cwmb and
  runners packages, a fresh /tmp, /dev and /proc, and the job's mounts at the container's paths
  (/data/train.npz, /out, /run/cwmb-llm, /methods); no home, no checkout, no Docker socket;
- PID 1 forks the job, which takes rlimits and an unprivileged identity (a fresh uid when we are
  root) and execs `cwmb job`. When the job exits, PID 1 exits, and the kernel kills whatever is left
  in the namespace (a `setsid` daemon included). PID 1 dies with the helper (parent-death signal).
The job writes what took effect to the report pipe as one JSON line before it execs, so the
launcher can say in one line what the OS refused. With no network namespace the job cannot reach
anything but the gateway's Unix socket; with its own PID namespace and /proc it cannot see any
host process, so no parent's environment (where an API key may live) is readable.

Only the standard library and `confine` are used: the helper must not import the job's code."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from cwmb.sandbox import confine

# Fresh uids for confined jobs when the bench runs as root: beside the program sandboxes' range.
JOB_UID_BASE = confine.UID_BASE + confine.UID_SPAN
JOB_TMP_MB = 512  # as the job container's /tmp
SHM_MB = 64  # as Docker's default /dev/shm
WITHHELD_TMPFS = "size=4k,mode=0555"
# What a job container has, in the names `confine.Applied` uses.
JOB_FEATURES = ("uid", "network", "pid", "filesystem", "ipc", "rlimits")
SYSTEM_TREES = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc")
JOB_PACKAGES = ("cwmb", "runners")


@dataclass(frozen=True)
class Mount:
    source: str
    target: str  # where the job sees it
    writable: bool = False


@dataclass
class JobBox:
    """Everything the helper needs; the environment travels as the helper's own environment."""

    command: list[str]
    root: str  # an empty folder (the launcher's, removed by it) to build the view on
    trees: list[str]  # read-only, at the same path as on the host
    links: list[str]  # top-level symlinks such as /bin -> usr/bin
    blank: list[str] = field(default_factory=list)  # files shown empty
    empty: list[str] = field(default_factory=list)  # folders shown empty
    mounts: list[Mount] = field(default_factory=list)
    uid: int | None = None
    # Features the job must get or not start at all: what the launcher's probe got on this
    # machine, so that a job whose confinement failed midway never runs half-confined.
    require: list[str] = field(default_factory=list)
    memory_mb: int = 6144
    processes: int = 512

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> JobBox:
        data = json.loads(text)
        data["mounts"] = [Mount(**m) for m in data["mounts"]]
        return cls(**data)


# -- host side ---------------------------------------------------------------------------------
def code_trees() -> tuple[list[str], list[str]]:
    """(trees a job sees read-only, top-level symlinks to recreate): the system libraries, the
    Python installation with its search path, and the cwmb and runners packages themselves, never
    a folder that holds them (the checkout, with its datasets and results)."""
    import importlib.util

    packages = []
    for name in JOB_PACKAGES:
        spec = importlib.util.find_spec(name)
        packages += list(spec.submodule_search_locations or []) if spec else []
    packages = [os.path.abspath(p) for p in packages]

    def holds_a_package(path: str) -> bool:
        return any(p.startswith(path.rstrip("/") + "/") for p in packages)

    wanted = [*SYSTEM_TREES, sys.base_prefix, sys.prefix, *packages]
    wanted += [p for p in sys.path if p and os.path.isdir(p) and not holds_a_package(p)]
    links = sorted({p for p in wanted if os.path.islink(p) and os.path.dirname(p) == "/"})
    trees = sorted({os.path.abspath(p) for p in wanted if os.path.exists(p)} - set(links))
    # One bind mount covers every tree inside another.
    return [t for t in trees if not any(t.startswith(o.rstrip("/") + "/") for o in trees)], links


def read_report(fd: int) -> dict[str, Any]:
    """The job's report (what confinement took effect), read once the helper has ended."""
    os.set_blocking(fd, False)
    data = b""
    with contextlib.suppress(BlockingIOError), os.fdopen(fd, "rb", closefd=True) as stream:
        data = stream.read(1 << 16) or b""
    try:
        report = json.loads(data.decode().splitlines()[-1])
        if isinstance(report, dict) and isinstance(report.get("features"), list):
            return report
    except (ValueError, IndexError):
        pass
    return {"features": [], "problems": ["the job did not start inside its confinement"]}


# -- the view ------------------------------------------------------------------------------------
def _special_filesystems(root: str) -> None:
    """/dev with the four harmless devices and a /dev/shm, and this PID namespace's /proc."""
    dev = root + "/dev"
    os.makedirs(dev, exist_ok=True)
    confine._mount("cwmb-job-dev", dev, "tmpfs", confine.MS_NOSUID | confine.MS_NOEXEC, "size=64k")
    for name in ("null", "zero", "random", "urandom"):
        confine._bind("/dev/" + name, f"{dev}/{name}", read_only=False)
    os.mkdir(dev + "/shm")
    shm_flags = confine.MS_NOSUID | confine.MS_NODEV | confine.MS_NOEXEC
    confine._mount("cwmb-job-shm", dev + "/shm", "tmpfs", shm_flags, f"size={SHM_MB}m,mode=1777")
    os.makedirs(root + "/proc", exist_ok=True)
    proc_flags = confine.MS_NOSUID | confine.MS_NODEV | confine.MS_NOEXEC
    confine._mount("proc", root + "/proc", "proc", proc_flags)


def build_job_view(root: str, box: JobBox) -> None:
    """Make `root` the root directory holding exactly what a job container would see."""
    confine._mount(None, "/", None, confine.MS_REC | confine.MS_PRIVATE)
    plain = confine.MS_NOSUID | confine.MS_NODEV
    confine._mount("cwmb-job-root", root, "tmpfs", plain, "size=1m,mode=0755")
    # /tmp first: a checkout or a virtual environment under /tmp is then bound inside it.
    os.makedirs(root + "/tmp")
    owner = f",uid={box.uid},gid={box.uid}" if box.uid is not None else ""
    tmp_options = f"size={JOB_TMP_MB}m,mode=1777{owner}"
    confine._mount("cwmb-job-tmp", root + "/tmp", "tmpfs", plain, tmp_options)
    for path in box.trees:
        confine._bind(path, root + path)
    for path in box.links:
        os.symlink(os.readlink(path), root + path)
    for path in box.blank:
        if os.path.isfile(root + path):
            confine._bind("/dev/null", root + path, read_only=False)
    withheld_flags = confine.MS_RDONLY | plain | confine.MS_NOEXEC
    for path in box.empty:
        if os.path.isdir(root + path):
            confine._mount("cwmb-withheld", root + path, "tmpfs", withheld_flags, WITHHELD_TMPFS)
    for mount in box.mounts:
        confine._bind(mount.source, root + mount.target, read_only=not mount.writable)
    _special_filesystems(root)
    confine._pivot_root(root)
    confine._mount(
        None, "/", None, confine.MS_REMOUNT | confine.MS_BIND | confine.MS_RDONLY | plain
    )


# -- the three processes ---------------------------------------------------------------------------
def _become_job(box: JobBox, applied: confine.Applied, report: int) -> None:
    """In the job's process: limits, identity, the report, then the job itself."""
    import resource

    mb = 1024 * 1024
    limits = [(resource.RLIMIT_CORE, 0), (resource.RLIMIT_AS, box.memory_mb * mb)]
    if box.uid is not None:  # RLIMIT_NPROC counts per uid: only a uid of its own makes it exact
        limits.append((resource.RLIMIT_NPROC, box.processes))
    try:
        for kind, value in limits:
            resource.setrlimit(kind, (value, value))
        applied.features.add("rlimits")
    except (OSError, ValueError) as exc:
        applied.problems.append(f"rlimits: {exc}")
    confine.drop_identity(box.uid, applied)
    if "filesystem" in applied.features:
        os.chdir("/tmp")
    _report_and_exec(box, applied, report)


def _report_and_exec(box: JobBox, applied: confine.Applied, report: int) -> None:
    """Tell the launcher what took effect, then become the job (unless that falls short)."""
    os.write(report, (json.dumps(applied.to_dict()) + "\n").encode())
    os.close(report)
    missing = sorted(set(box.require) - applied.features)
    if missing:
        print(f"cwmb: the job was not started: no {', '.join(missing)}", file=sys.stderr)
        os._exit(126)
    os.execve(box.command[0], box.command, dict(os.environ))


def _fork_into(child: Callable[[], None]) -> int:
    """Fork; the child runs `child` and never returns (127 if it does not exec or exit)."""
    pid = os.fork()
    if pid == 0:
        try:
            child()
        finally:
            os._exit(127)
    return pid


def _init(box: JobBox, root: str, applied: confine.Applied, report: int) -> None:
    """PID 1 of the job's namespaces: the view, then the job, then the end of everything."""
    confine.prctl(confine.PR_SET_PDEATHSIG, signal.SIGKILL)
    if "mounts" in applied.features:
        try:
            build_job_view(root, box)
            applied.features.add("filesystem")
        except OSError as exc:
            applied.problems.append(f"filesystem view: {exc}")
    applied.features.discard("mounts")
    if "ipc" in applied.features:
        with contextlib.suppress(OSError):
            socket.sethostname("job")
    job = _fork_into(lambda: _become_job(box, applied, report))
    os.close(report)
    os._exit(_wait_for(job))


def _wait_for(pid: int) -> int:
    """Reap every child until `pid` exits; its exit code (128 + signal when killed)."""
    while True:
        try:
            child, status = os.wait()
        except ChildProcessError:
            return 1
        if child == pid:
            code = os.waitstatus_to_exitcode(status)
            return code if code >= 0 else 128 - code


def main(argv: list[str]) -> int:
    box = JobBox.from_json(argv[0])
    report = int(argv[1])
    os.set_inheritable(report, False)
    applied = confine.Applied()
    if sys.platform != "linux":  # no namespaces to enter: a plain process, and the report says so
        applied.problems.append(f"namespaces: not available on {sys.platform}")
        _report_and_exec(box, applied, report)
    try:
        confine.enter_namespaces(applied)
    except OSError as exc:
        applied.problems.append(f"namespaces: {exc}")
    init = _fork_into(lambda: _init(box, box.root, applied, report))
    os.close(report)
    return _wait_for(init)


def describe(report: dict[str, Any]) -> str:
    """One line: what confinement a job got, and what the OS refused."""
    got = ", ".join(report.get("features") or []) or "nothing"
    problems = "; ".join(report.get("problems") or [])
    return f"confined with {got}" + (f" (refused: {problems})" if problems else "")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
