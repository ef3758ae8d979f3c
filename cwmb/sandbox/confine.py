"""Confining a freshly forked sandbox worker on Linux, before any untrusted code runs.

Three steps, called by the fork server (`zygote.py`):
- `enter_namespaces` (in the first child): new mount, PID, network, IPC and UTS namespaces, plus a
  user namespace when we are not root. The next fork becomes PID 1 of the new PID namespace, so
  killing that one process takes every process the program started with it (daemons included).
- `confine_view` (in that PID 1): a private filesystem view built from read-only bind mounts of
  what the sandbox's profile allows (see `program_view.py`; never a home, trajectories/ or the
  reference programs; a fresh /tmp and /proc).
- `confine_process` (once the sandbox is handed a session): rlimits, an unprivileged uid (a
  fresh one per sandbox when we are root), no capabilities, no-new-privileges.

Every step that the OS refuses is skipped and reported, so the host can say how strong the
isolation really is. Only the standard library is used: this runs in the fork server."""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import platform
import resource
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_REMOUNT = 0x20
MS_NOATIME = 0x400
MS_NODIRATIME = 0x800
MS_BIND = 0x1000
MS_REC = 0x4000
MS_PRIVATE = 0x40000
MS_RELATIME = 0x200000
MNT_DETACH = 0x2

PR_SET_PDEATHSIG = 1
PR_SET_NO_NEW_PRIVS = 38
PR_SET_CHILD_SUBREAPER = 36

SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41, "riscv64": 41, "ppc64le": 203, "s390x": 217}
SYS_CAPSET = {"x86_64": 126, "aarch64": 91, "riscv64": 91, "ppc64le": 184, "s390x": 185}

# The uids handed to sandboxes when we are root: one per session, so RLIMIT_NPROC is per session
# and "kill everything this uid runs" can never touch anything else. Nothing on a normal system
# uses this range.
UID_BASE = 1_900_000_000
UID_SPAN = 1 << 20

# Names of the isolation features, as reported to the host.
FEATURES = ("rlimits", "uid", "network", "pid", "filesystem", "ipc")

_libc = ctypes.CDLL(None, use_errno=True)


class ConfineError(OSError):
    pass


def _check(result: int, what: str) -> None:
    if result != 0:
        code = ctypes.get_errno()
        raise ConfineError(code, f"{what}: {os.strerror(code)}")


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str = "") -> None:
    _check(
        _libc.mount(
            source.encode() if source else None,
            target.encode(),
            fstype.encode() if fstype else None,
            ctypes.c_ulong(flags),
            data.encode() if data else None,
        ),
        f"mount {target}",
    )


def prctl(option: int, value: int) -> None:
    _check(_libc.prctl(option, ctypes.c_ulong(value), 0, 0, 0), f"prctl {option}")


@dataclass
class Applied:
    """What confinement actually took effect (and why the rest did not)."""

    features: set[str] = field(default_factory=set)
    problems: list[str] = field(default_factory=list)
    user_namespace: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "features": sorted(self.features),
            "problems": self.problems,
            "user_namespace": self.user_namespace,
        }


# -- step 1: namespaces (first child) -----------------------------------------------------------
def _write(path: str, text: str) -> None:
    with open(path, "w") as handle:
        handle.write(text)


def enter_namespaces(applied: Applied) -> None:
    """Unshare what the OS allows; the caller's next fork is PID 1 of the new PID namespace."""
    base = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS
    uid, gid = os.geteuid(), os.getegid()
    attempts = [base] if uid == 0 else []
    attempts.append(base | CLONE_NEWUSER)  # unprivileged user namespaces, where enabled
    for flags in attempts:
        if _libc.unshare(ctypes.c_int(flags)) == 0:
            break
        code = ctypes.get_errno()
        applied.problems.append(f"unshare: {os.strerror(code)}")
    else:
        return
    applied.problems.clear()
    if flags & CLONE_NEWUSER:
        # Keep our own uid inside; we hold capabilities over the new namespaces only.
        applied.user_namespace = True
        _write("/proc/self/setgroups", "deny")
        _write("/proc/self/uid_map", f"{uid} {uid} 1")
        _write("/proc/self/gid_map", f"{gid} {gid} 1")
    applied.features.update({"network", "pid", "ipc", "mounts"})


# -- step 2: the filesystem view (PID 1 of the new namespaces) ---------------------------------
_ST_TO_MS = (
    (os.ST_NOSUID, MS_NOSUID),
    (os.ST_NODEV, MS_NODEV),
    (os.ST_NOEXEC, MS_NOEXEC),
    (os.ST_NOATIME, MS_NOATIME),
    (os.ST_NODIRATIME, MS_NODIRATIME),
    (os.ST_RELATIME, MS_RELATIME),
)


def _locked_flags(path: str) -> int:
    """Flags of the mount holding `path` that a read-only remount must repeat (a user namespace
    may not drop them)."""
    flags = os.statvfs(path).f_flag
    return sum(ms for st, ms in _ST_TO_MS if flags & st)


def _bind(source: str, target: str, read_only: bool = True) -> None:
    if os.path.isdir(source):
        os.makedirs(target, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if not os.path.exists(target):
            with open(target, "w"):
                pass
    _mount(source, target, None, MS_BIND | MS_REC)
    if read_only:
        flags = MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | _locked_flags(source)
        _mount(None, target, None, flags)


def _pivot_root(new_root: str) -> None:
    number = SYS_PIVOT_ROOT.get(platform.machine())
    if number is None:
        raise ConfineError(errno.ENOSYS, f"pivot_root: unknown machine {platform.machine()}")
    old = os.path.join(new_root, ".old")
    os.mkdir(old)
    _check(_libc.syscall(number, new_root.encode(), old.encode()), "pivot_root")
    os.chdir("/")
    _check(_libc.umount2(b"/.old", MNT_DETACH), "umount old root")
    os.rmdir("/.old")


@dataclass(frozen=True)
class View:
    """A sandbox's filesystem: read-only `trees` at their own paths, top-level symlinks (such as
    /bin -> usr/bin), folders inside those trees covered by an empty read-only mount (`masks`),
    then read-only `overlays` (source, target) mounted on top, and `hidden` files blanked."""

    trees: tuple[str, ...]
    links: tuple[str, ...] = ()
    masks: tuple[str, ...] = ()
    overlays: tuple[tuple[str, str], ...] = ()
    hidden: tuple[str, ...] = ()


def build_view(new_root: str, view: View, tmp_mb: int, uid: int) -> None:
    """Make `new_root` the root holding `view`, an empty /tmp of `tmp_mb` MB, a minimal /dev and
    this PID namespace's /proc. Nothing else exists."""
    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    _mount("cwmb-root", new_root, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=0755")
    # /tmp first: a checkout that lives under /tmp is then mounted inside it, not hidden by it.
    tmp = new_root + "/tmp"
    os.makedirs(tmp, exist_ok=True)
    owner = f",uid={uid},gid={uid}" if uid else ""
    _mount("cwmb-tmp", tmp, "tmpfs", MS_NOSUID | MS_NODEV, f"size={tmp_mb}m,mode=1777{owner}")
    for path in view.trees:
        _bind(path, new_root + path)
    for path in view.links:
        os.symlink(os.readlink(path), new_root + path)
    for path in view.masks:
        _mount("cwmb-empty", new_root + path, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=0755")
    for source, target in view.overlays:
        _bind(source, new_root + target)
    for path in view.masks:  # read-only once the overlays inside them have their mount points
        _mount(None, new_root + path, None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)
    for path in view.hidden:
        # An empty read-only file over it: the answer key of a benchmark is not for programs.
        _bind("/dev/null", new_root + path, read_only=False)
    dev = new_root + "/dev"
    os.makedirs(dev)
    _mount("cwmb-dev", dev, "tmpfs", MS_NOSUID | MS_NOEXEC, "size=1m,mode=0755")
    for name in ("null", "zero", "random", "urandom"):
        _bind("/dev/" + name, f"{dev}/{name}", read_only=False)
    os.mkdir(dev + "/shm", 0o1777)
    os.chmod(dev + "/shm", 0o1777)
    proc = new_root + "/proc"
    os.makedirs(proc)
    _mount("proc", proc, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    _pivot_root(new_root)
    _mount(None, "/", None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV)


# -- step 2 continued: limits and identity ------------------------------------------------------
def set_rlimits(limits: Mapping[str, int], applied: Applied) -> None:
    mb = 1024 * 1024
    wanted = [
        (resource.RLIMIT_CORE, 0),
        (resource.RLIMIT_FSIZE, limits["file_size_mb"] * mb),
        (resource.RLIMIT_NOFILE, limits["open_files"]),
        (resource.RLIMIT_AS, limits["memory_mb"] * mb),
        (resource.RLIMIT_NPROC, limits["processes"]),
    ]
    try:
        for kind, value in wanted:
            resource.setrlimit(kind, (value, value))
        cpu = limits["cpu_seconds"]
        # SIGXCPU at the soft limit (a program may ignore it), SIGKILL one second later.
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    except (OSError, ValueError) as exc:
        applied.problems.append(f"rlimits: {exc}")
        return
    applied.features.add("rlimits")


def _drop_capabilities() -> None:
    number = SYS_CAPSET.get(platform.machine())
    if number is None:
        raise ConfineError(errno.ENOSYS, "capset: unknown machine")
    header = (ctypes.c_uint32 * 2)(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3, this process
    data = (ctypes.c_uint32 * 6)()  # effective, permitted, inheritable x 2: all empty
    _check(_libc.syscall(number, header, data), "capset")


def drop_identity(uid: int | None, applied: Applied) -> None:
    """Become `uid` (when root) or shed the user namespace's capabilities; no new privileges."""
    try:
        if uid is not None:
            os.setgroups([])
            os.setresgid(uid, uid, uid)
            os.setresuid(uid, uid, uid)  # from root to non-root: every capability goes
            applied.features.add("uid")
        else:
            applied.problems.append("own uid: needs root")
            if applied.user_namespace:
                _drop_capabilities()
        prctl(PR_SET_NO_NEW_PRIVS, 1)
    except OSError as exc:
        applied.problems.append(f"identity: {exc}")


def confine_view(
    applied: Applied, new_root: str | None, view: View, tmp_mb: int, uid: int | None
) -> None:
    """First half, in the new PID namespace: the filesystem view and the host name."""
    if "mounts" in applied.features and new_root is not None:
        try:
            build_view(new_root, view, tmp_mb, uid or 0)
            applied.features.add("filesystem")
        except OSError as exc:
            applied.problems.append(f"filesystem view: {exc}")
    applied.features.discard("mounts")
    if "filesystem" in applied.features:
        os.chdir("/tmp")
    if "ipc" in applied.features:  # a UTS namespace came with it
        with contextlib.suppress(OSError):
            socket.sethostname("sandbox")


def resize_tmp(applied: Applied, tmp_mb: int) -> None:
    """Give the private /tmp another size (a sandbox prepared before its limits were known)."""
    if "filesystem" in applied.features:
        try:
            _mount(None, "/tmp", None, MS_REMOUNT | MS_NOSUID | MS_NODEV, f"size={tmp_mb}m")
        except OSError as exc:
            applied.problems.append(f"/tmp size: {exc}")


def confine_process(applied: Applied, limits: Mapping[str, int], uid: int | None) -> None:
    """Second half, right before the program: rlimits, then the unprivileged identity."""
    set_rlimits(limits, applied)
    drop_identity(uid, applied)
