"""The fork server of the `process` backend (run as `python -I -m cwmb.sandbox.zygote FD`).

Starting Python and importing numpy costs a few hundred milliseconds; forking a process that has
already done so costs about one. The host starts this server once, with a scrubbed environment,
and talks to it over a Unix SEQPACKET socket (file descriptor FD): JSON messages, with the
worker's three pipe ends attached to a spawn request.

A sandbox is prepared with two forks: the first child enters new namespaces
(`confine.enter_namespaces`); its child is PID 1 of the new PID namespace, builds its filesystem
view (`confine.confine_view`) and waits on a private socket. A spawn hands it the limits and the
session's pipes; it then applies rlimits and drops its identity (`confine.confine_process`) and
becomes the worker. The server keeps one sandbox prepared in advance (the spare), so a spawn
costs a message, not two forks. The first child exits at once, so the sandbox is re-parented to
this server (a child subreaper), which keeps it unreaped until the host asks to kill it: a
sandbox's PID can never be reused under the host.

Requests: {"op": "spawn", "limits": {...}, "profile": "program" | "reference"} + 3 fds ->
{"ok", "pid"} (a profile is a filesystem view, see `program_view.py`; spares are prepared in the
profile last asked for);
{"op": "kill", "pid"} -> {"ok", "status"} (kills the whole sandbox, reaps it, removes its files);
{"op": "status"} -> {"ok", "spare", "sandboxes"}.
The first message the server sends is {"ready": true, "isolation": <what a probe sandbox got>,
"base": <its private folder>}."""

from __future__ import annotations

import contextlib
import gc
import json
import os
import random
import select
import shutil
import signal
import socket
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cwmb.sandbox import confine, program_view

MAX_MESSAGE = 1 << 16
PRELOADED = (
    "numpy.random", "numpy.linalg", "math", "cmath", "random", "collections", "copy",
    "dataclasses", "itertools", "functools", "operator", "typing", "enum", "abc", "json", "re",
    "heapq", "bisect", "time", "signal", "struct", "string", "statistics", "fractions",
    "decimal", "array", "queue", "threading", "traceback", "warnings", "contextlib", "types",
    "weakref", "numbers", "io", "secrets", "hashlib", "socket", "glob", "pathlib", "ctypes",
)  # fmt: skip
SPAWN_TIMEOUT = 10.0
DEFAULT_TMP_MB = 64  # the private /tmp of a prepared sandbox, resized on assignment


def preload() -> None:
    """Import what every worker needs, once, before any fork."""
    import numpy  # noqa: F401

    import cwmb.formats  # noqa: F401
    import cwmb.planning.runtime  # noqa: F401
    import cwmb.sandbox.worker  # noqa: F401

    with contextlib.suppress(ImportError):
        import cwmb.planning.cem  # noqa: F401
    # Warm the paths of a step_batch (numpy imports some of them lazily on first use).
    from cwmb.sandbox import protocol

    sample = [{"next_state": [0.0, 1.0], "reward": 0.0, "done": False, "error": None}]
    protocol.unpack_predictions(json.loads(protocol.encode(protocol.pack_predictions(sample))))
    # Modules generated programs commonly use: cheap to have ready, and importable even where
    # the sandbox cannot read the Python installation (own uid without a filesystem view).
    for name in PRELOADED:
        with contextlib.suppress(ImportError):
            __import__(name)


SYSTEM_TREES = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc")


def _trees(paths: list[str]) -> tuple[list[str], list[str]]:
    """(outermost trees, top-level symlinks to recreate, such as /bin -> usr/bin) of the
    existing `paths`."""
    trees: list[str] = []
    links: list[str] = []
    for path in map(os.path.abspath, paths):
        if not os.path.exists(path):
            continue
        if os.path.islink(path) and os.path.dirname(path) == "/":
            links.append(path)
        else:
            trees.append(path)
    return program_view.outermost(trees), links


def reference_view() -> confine.View:
    """Trusted reference programs: the system libraries, the Python installation, its
    site-packages and the cwmb package itself. Not the project folder (trajectories/,
    results/), not any home directory; the references, masks and descriptions blanked."""
    package = str(program_view.package_dir())
    wanted = [*SYSTEM_TREES, sys.base_prefix, sys.prefix, package]
    for entry in sys.path:
        if entry and os.path.isdir(entry) and not os.path.isdir(os.path.join(entry, "cwmb")):
            wanted.append(entry)
    trees, links = _trees(wanted)
    return confine.View(tuple(trees), tuple(links), hidden=tuple(program_view.hidden_env_files()))


def program_view_of(library: str) -> confine.View:
    """Untrusted programs: the system libraries and the standard library, every package folder
    covered by an empty mount, then numpy and the copy of the worker's modules in `library`
    mounted where this process imported them from."""
    trees, links = _trees([*SYSTEM_TREES, sys.base_prefix])
    masks = [
        path
        for path in program_view.package_folders()
        if any(program_view.inside(path, tree) for tree in trees)
    ]
    overlays = [(tree, tree) for tree in program_view.numpy_trees()]
    overlays.append((os.path.join(library, "cwmb"), str(program_view.package_dir())))
    return confine.View(tuple(trees), tuple(links), tuple(masks), tuple(overlays))


@dataclass
class Pending:
    """A sandbox being prepared: its first child reports the PID on `report`."""

    first: int
    report: int
    uid: int | None
    workdir: str
    control: socket.socket
    profile: str


@dataclass
class Sandbox:
    uid: int | None
    workdir: str
    profile: str
    pid_namespace: bool  # killing its PID 1 kills everything it started
    control: socket.socket | None  # until assigned: where its limits and pipes are sent
    status: int | None = None  # raw wait status once reaped


class Zygote:
    def __init__(self, sock: socket.socket, namespaces: bool = True):
        self.sock = sock
        self.namespaces = namespaces
        self.base = tempfile.mkdtemp(prefix="cwmb-zygote-")
        os.chmod(self.base, 0o711)
        self.new_root = os.path.join(self.base, "root")
        os.mkdir(self.new_root)
        # The program profile's own copy of the worker's modules (see program_view.py).
        library = os.path.join(self.base, "library")
        program_view.assemble_package(library)
        self.views = {"program": program_view_of(library), "reference": reference_view()}
        self.root = os.geteuid() == 0
        self.sandboxes: dict[int, Sandbox] = {}
        self.spare: int | None = None  # a prepared sandbox waiting for the next spawn
        self.spare_profile = "program"  # the profile spares are prepared in (the last asked)
        self.pending: Pending | None = None  # the next spare, while it is being prepared
        self.wakeup_r, self.wakeup_w = os.pipe()
        os.set_blocking(self.wakeup_w, False)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        signal.set_wakeup_fd(self.wakeup_w)

    # -- spawning ----------------------------------------------------------------------------
    def _new_uid(self) -> int | None:
        if not self.root:
            return None
        used = {box.uid for box in self.sandboxes.values()}
        while True:
            uid = confine.UID_BASE + random.randrange(confine.UID_SPAN)
            if uid not in used:
                return uid

    def _prepare(self, profile: str) -> int | None:
        """Start a sandbox up to the point where only its limits and pipes are missing: the
        slow part (two forks, namespaces, the filesystem view) happens before any request."""
        return self._finish(self._start(profile))

    def _start(self, profile: str) -> Pending:
        uid = self._new_uid()
        workdir = tempfile.mkdtemp(prefix="work-", dir=self.base)
        if uid is not None:
            os.chown(workdir, uid, uid)
        control, control_child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        report_r, report_w = os.pipe()
        first = os.fork()
        if first == 0:
            try:
                os.close(report_r)
                self._first_child(report_w, control_child.fileno(), uid, workdir, profile)
            finally:
                os._exit(127)
        os.close(report_w)
        control_child.close()
        return Pending(first, report_r, uid, workdir, control, profile)

    def _finish(self, pending: Pending) -> int | None:
        """Wait for a started sandbox's first child to report the sandbox's PID."""
        report = self._read_report(pending.report)
        with contextlib.suppress(ChildProcessError):  # reap() may have collected it already
            os.waitpid(pending.first, 0)
        pid = report.get("pid")
        if not isinstance(pid, int):
            pending.control.close()
            shutil.rmtree(pending.workdir, ignore_errors=True)
            return None
        contained = bool(report.get("pid_namespace"))
        self.sandboxes[pid] = Sandbox(
            pending.uid, pending.workdir, pending.profile, contained, pending.control
        )
        return pid

    def _take_spare_ready(self) -> None:
        assert self.pending is not None
        pending, self.pending = self.pending, None
        self.spare = self._finish(pending)

    def _take_spare(self) -> int | None:
        if self.pending is not None:
            pending, self.pending = self.pending, None
            self.spare = self._finish(pending)
        pid, self.spare = self.spare, None
        return pid

    def _assign(self, pid: int, request: dict[str, Any], fds: list[int]) -> bool:
        """Hand a prepared sandbox its limits and the session's pipes."""
        box = self.sandboxes[pid]
        control, box.control = box.control, None
        if control is None or box.status is not None:
            return False
        try:
            socket.send_fds(control, [json.dumps(request).encode()], fds)
        except OSError:
            return False
        finally:
            control.close()
        return True

    def spawn(self, limits: dict[str, int], fds: list[int], profile: str) -> dict[str, Any]:
        try:
            pid = self._take_spare()
            if pid is not None and self.sandboxes[pid].profile != profile:
                self.kill(pid)  # prepared for the other profile: never handed over
                pid = None
            self.spare_profile = profile
            for _ in range(2):  # a spare that died meanwhile is replaced once
                if pid is None:
                    pid = self._prepare(profile)
                if pid is None:
                    return {"ok": False, "error": "the sandbox did not start"}
                if self._assign(pid, {"limits": limits}, fds):
                    return {"ok": True, "pid": pid}
                self.kill(pid)
                pid = None
            return {"ok": False, "error": "the sandbox did not start"}
        finally:
            for fd in fds:
                os.close(fd)

    def _read_report(self, fd: int) -> dict[str, Any]:
        data = b""
        deadline = time.monotonic() + SPAWN_TIMEOUT
        with os.fdopen(fd, "rb") as stream:
            while time.monotonic() < deadline:
                ready, _, _ = select.select([stream], [], [], deadline - time.monotonic())
                if not ready:
                    break
                chunk = os.read(fd, 1 << 16)
                if not chunk:
                    break
                data += chunk
                if data.endswith(b"\n"):
                    break
        try:
            return json.loads(data.decode().splitlines()[-1])
        except (ValueError, IndexError):
            return {"error": f"the sandbox did not start: {data[-500:]!r}"}

    def _first_child(
        self, report: int, control: int, uid: int | None, workdir: str, profile: str
    ) -> None:
        """In the first child: own session, namespaces, then fork the sandbox and report it."""
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        devnull = os.open(os.devnull, os.O_RDWR)
        os.dup2(devnull, 0)
        os.dup2(devnull, 1)
        keep = sorted({report, control})
        os.closerange(3, keep[0])
        os.closerange(keep[0] + 1, keep[1])
        os.closerange(keep[1] + 1, 1 << 16)
        os.setsid()
        applied = confine.Applied()
        if not self.namespaces:
            applied.problems.append("namespaces: turned off")
        else:
            try:
                confine.enter_namespaces(applied)
            except OSError as exc:
                applied.problems.append(f"namespaces: {exc}")
        sandbox = os.fork()
        if sandbox == 0:
            os.close(report)
            try:
                self._sandbox(applied, control, uid, workdir, self.views[profile])
            finally:
                os._exit(1)
        contained = "pid" in applied.features
        message = {"pid": sandbox, "pid_namespace": contained}
        os.write(report, (json.dumps(message) + "\n").encode())
        os._exit(0)

    def _sandbox(
        self,
        applied: confine.Applied,
        control: int,
        uid: int | None,
        workdir: str,
        view: confine.View,
    ) -> None:
        """PID 1 of the sandbox: prepare the view, wait for an assignment, confine the process,
        greet the host, then serve as the worker."""
        new_root = self.new_root if "mounts" in applied.features else None
        confine.confine_view(applied, new_root, view, DEFAULT_TMP_MB, uid)
        if "filesystem" not in applied.features:
            os.chdir(workdir)
        channel = socket.socket(fileno=control)
        message, fds, _, _ = socket.recv_fds(channel, MAX_MESSAGE, 3)
        if not message:
            os._exit(0)  # the fork server is gone
        request = json.loads(message)
        limits = request["limits"]
        if limits["tmp_mb"] != DEFAULT_TMP_MB:
            confine.resize_tmp(applied, limits["tmp_mb"])
        if request.get("probe"):
            confine.confine_process(applied, limits, uid)
            channel.send(json.dumps(applied.to_dict()).encode())
            os._exit(0)
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
        for fd in fds:
            if fd > 2:
                os.close(fd)
        channel.close()
        try:
            confine.confine_process(applied, limits, uid)
            # Die with the fork server (set after the uid change, which clears it; the first
            # child is long gone, so the parent now is the server).
            confine.prctl(confine.PR_SET_PDEATHSIG, signal.SIGKILL)
            # Each sandbox starts from fresh randomness, as a fresh interpreter would.
            random.seed()
            import numpy

            numpy.random.seed(int.from_bytes(os.urandom(4), "little"))
            hello = {"ok": True, "isolation": applied.to_dict()}
        except BaseException:
            hello = {"ok": False, "error": traceback.format_exc()[-2000:]}
        os.write(1, (json.dumps(hello) + "\n").encode())
        if not hello["ok"]:
            os._exit(1)
        from cwmb.sandbox.worker import main

        main()
        os._exit(0)

    # -- killing -----------------------------------------------------------------------------
    def kill(self, pid: int) -> dict[str, Any]:
        box = self.sandboxes.pop(pid, None)
        if box is None:
            return {"ok": False, "error": f"no sandbox {pid}"}
        if box.control is not None:
            box.control.close()
        if box.status is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            # PID 1 of a namespace is reaped only after every other process in it is gone.
            try:
                _, box.status = os.waitpid(pid, 0)
            except ChildProcessError:  # already reaped by the sweep for strays: it was killed
                box.status = signal.SIGKILL
        if not box.pid_namespace:
            if box.uid is not None:
                self._kill_uid(box.uid)
            self._kill_strays()
        shutil.rmtree(box.workdir, ignore_errors=True)
        return {"ok": True, "status": os.waitstatus_to_exitcode(box.status)}

    def _kill_uid(self, uid: int) -> None:
        """Kill whatever still runs as the sandbox's own uid (needed only without a PID
        namespace): a process with that uid signals every process with that uid."""
        for _ in range(2):
            child = os.fork()
            if child == 0:
                try:
                    os.setresuid(uid, uid, uid)
                    os.kill(-1, signal.SIGKILL)
                finally:
                    os._exit(0)
            os.waitpid(child, 0)

    def _kill_strays(self, timeout: float = 2.0) -> None:
        """Kill every child that is not a sandbox. Without a PID namespace a killed program's
        orphans (daemons included) are re-parented here, this server being a child subreaper;
        their own children follow as their parents die."""
        me = os.getpid()
        deadline = time.monotonic() + timeout
        while True:
            self.reap()
            try:
                children = Path(f"/proc/{me}/task/{me}/children").read_text().split()
            except OSError:
                return
            strays = [int(pid) for pid in children if int(pid) not in self.sandboxes]
            if self.pending is not None:
                strays = [pid for pid in strays if pid != self.pending.first]
            if not strays or time.monotonic() > deadline:
                return
            for pid in strays:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.002)

    def reap(self) -> None:
        with contextlib.suppress(BlockingIOError):
            while os.read(self.wakeup_r, 512):
                pass
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            if pid in self.sandboxes:
                self.sandboxes[pid].status = status

    # -- serving -----------------------------------------------------------------------------
    def send(self, message: dict[str, Any]) -> None:
        self.sock.send(json.dumps(message).encode())

    def serve(self) -> None:
        os.set_blocking(self.wakeup_r, False)
        probe = self._probe()
        self.pending = self._start(self.spare_profile)
        self.send({"ready": True, "isolation": probe, "base": self.base})
        try:
            while True:
                watched = [self.sock.fileno(), self.wakeup_r]
                if self.pending is not None:
                    watched.append(self.pending.report)
                ready, _, _ = select.select(watched, [], [])
                if self.wakeup_r in ready:
                    self.reap()
                if self.pending is not None and self.pending.report in ready:
                    self._take_spare_ready()
                if self.sock.fileno() not in ready:
                    continue
                message, fds, _, _ = socket.recv_fds(self.sock, MAX_MESSAGE, 3)
                if not message:
                    return  # the host is gone
                self.send(self.handle(json.loads(message), fds))
                if self.spare is None and self.pending is None:
                    # Prepared while the host works with the sandbox it just got.
                    self.pending = self._start(self.spare_profile)
        finally:
            if self.pending is not None:
                self._take_spare_ready()
            for pid in list(self.sandboxes):
                self.kill(pid)
            shutil.rmtree(self.base, ignore_errors=True)

    def handle(self, request: dict[str, Any], fds: list[int]) -> dict[str, Any]:
        try:
            if request.get("op") == "spawn":
                if len(fds) != 3:
                    return {"ok": False, "error": "spawn needs 3 file descriptors"}
                profile = program_view.check_profile(request.get("profile", "program"))
                return self.spawn(request["limits"], fds, profile)
            for fd in fds:
                os.close(fd)
            if request.get("op") == "kill":
                return self.kill(int(request["pid"]))
            if request.get("op") == "status":
                self.reap()
                if self.pending is not None:
                    self._take_spare_ready()
                live = [pid for pid, box in self.sandboxes.items() if box.status is None]
                return {"ok": True, "spare": self.spare, "sandboxes": live}
            return {"ok": False, "error": f"unknown request {request.get('op')!r}"}
        except Exception:  # noqa: BLE001 - the server must outlive a bad request
            return {"ok": False, "error": traceback.format_exc()[-2000:]}

    def _probe(self) -> dict[str, Any]:
        """Confine one throw-away sandbox to learn what this machine allows."""
        limits = {
            "file_size_mb": 1,
            "open_files": 64,
            "memory_mb": 4096,
            "processes": 64,
            "cpu_seconds": 10,
            "tmp_mb": DEFAULT_TMP_MB,
        }
        pid = self._prepare("program")
        if pid is None:
            return {"features": [], "problems": ["the probe sandbox did not start"]}
        control = self.sandboxes[pid].control
        assert control is not None
        control.settimeout(SPAWN_TIMEOUT)
        try:
            control.send(json.dumps({"limits": limits, "probe": True}).encode())
            answer: dict[str, Any] = json.loads(control.recv(MAX_MESSAGE) or b"{}")
        except (OSError, ValueError) as exc:
            answer = {"features": [], "problems": [f"probe: {exc}"]}
        self.kill(pid)
        return answer


def main() -> None:
    """Arguments: the socket's file descriptor, then `--no-namespaces` to confine with rlimits
    and uid only (what machines without namespaces get; used to test that path)."""
    sock = socket.socket(fileno=int(sys.argv[1]))
    preload()
    # Objects that exist now are never collected: keeping the collector off them keeps their
    # memory pages shared with every forked sandbox (fewer copy-on-write faults per session).
    gc.freeze()
    confine.prctl(confine.PR_SET_CHILD_SUBREAPER, 1)
    Zygote(sock, namespaces="--no-namespaces" not in sys.argv[2:]).serve()


if __name__ == "__main__":
    main()
