"""What a job leaves in its output folder is untrusted input to the host.

The job writes only into a scratch folder of its own. After the job has ended the host opens each
expected file there by name, without following links and without blocking (a FIFO or a device is
refused, as is a file with other hard links), reads at most a capped number of bytes, checks
job.json's schema, and copies what it keeps into the published job folder, which the job never
sees. Nothing else in the scratch folder is read; the folder is then removed."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cwmb.dataset import atomic_write_bytes

PROGRAM_CAP = 1 << 20  # bytes of program.py (a world model is a few kB)
JOB_INFO_CAP = 64 << 10  # bytes of job.json
LOG_CAP = 16 << 20  # bytes of log.txt kept
TRACE_CAP = 256 << 20  # bytes of trace.jsonl kept
ERROR_CHARS = 4000  # characters of job.json's "error" kept
CHUNK = 1 << 20

_OPEN_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_NONBLOCK", 0)
    | getattr(os, "O_NOCTTY", 0)
    | getattr(os, "O_CLOEXEC", 0)
)


class JobFileError(Exception):
    """A job file the host refuses to use (the message says which and why)."""


@contextlib.contextmanager
def open_regular(folder: Path, name: str) -> Iterator[int | None]:
    """A read-only descriptor of the regular file `folder/name`, or None when there is none.

    Only the last path component is the job's; it is never followed, and anything other than a
    regular file with a single link is refused with a JobFileError."""
    try:
        folder_fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | getattr(os, "O_NOFOLLOW", 0))
    except OSError as exc:  # only a job that escaped its folder can remove or replace it
        raise JobFileError(f"the job's output folder cannot be opened: {exc.strerror}") from None
    try:
        try:
            fd = os.open(name, _OPEN_FLAGS, dir_fd=folder_fd)
        except FileNotFoundError:
            fd = None
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise JobFileError(f"{name} is a symbolic link; it was not read") from None
            raise JobFileError(f"{name} cannot be opened: {exc.strerror}") from None
    finally:
        os.close(folder_fd)
    if fd is None:
        yield None
        return
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise JobFileError(f"{name} is not a regular file; it was not read")
        if info.st_nlink != 1:
            raise JobFileError(f"{name} has other hard links; it was not read")
        yield fd
    finally:
        os.close(fd)


def read_capped(fd: int, cap: int) -> tuple[bytes, bool]:
    """At most `cap` bytes from `fd`, and whether there was more."""
    chunks = []
    left = cap + 1
    while left > 0:
        chunk = os.read(fd, min(CHUNK, left))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    data = b"".join(chunks)
    return data[:cap], len(data) > cap


def read_whole(folder: Path, name: str, cap: int) -> bytes | None:
    """The whole regular file `folder/name` (None if absent); a JobFileError past `cap` bytes."""
    with open_regular(folder, name) as fd:
        if fd is None:
            return None
        data, too_big = read_capped(fd, cap)
    if too_big:
        raise JobFileError(f"{name} is larger than {cap} bytes")
    return data


def copy_capped(fd: int, target: Path, cap: int) -> bool:
    """Stream at most `cap` bytes of `fd` into `target` (atomically); True if it was cut short."""
    tmp = target.with_name(f".{target.name}.tmp")
    left = cap
    truncated = False
    with tmp.open("wb") as out:
        while True:
            chunk = os.read(fd, CHUNK)
            if not chunk:
                break
            if len(chunk) > left:
                out.write(chunk[:left])
                truncated = True
                break
            out.write(chunk)
            left -= len(chunk)
    tmp.replace(target)
    return truncated


# -- job.json --------------------------------------------------------------------------------------

# The fields the host keeps from job.json: accepted types, and whether the field is required.
JOB_INFO_FIELDS: dict[str, tuple[tuple[type, ...], bool]] = {
    "status": ((str,), True),
    "error": ((str,), False),
    "method": ((str,), True),
    "env": ((str,), True),
    "seed": ((int,), True),
    "budget": ((int,), False),
    "llm_calls": ((int,), False),
    "budget_exhausted": ((bool,), False),
    "train_accuracy": ((int, float), False),
    "train_paper_accuracy": ((int, float), False),
    "train_solved": ((bool,), False),
    "descriptions": ((str,), False),
    "description_sha256": ((str,), False),
    "method_options": ((dict,), False),
    "program_sha256": ((str,), False),
    "train_sha256": ((str,), False),
    "isolation": ((str,), False),
    "wall_seconds": ((int, float), False),
}
JOB_STATUSES = ("ok", "error")


def check_job_info(data: Any, method: str, env: str, seed: int) -> dict[str, Any]:
    """The known fields of a job.json that describes this job; a JobFileError otherwise.

    Unknown fields are dropped; the job's numbers are kept for reference only (no summary or
    report number comes from them)."""
    if not isinstance(data, dict):
        raise JobFileError(f"job.json holds a JSON {type(data).__name__}, not an object")
    info: dict[str, Any] = {}
    for name, (types, required) in JOB_INFO_FIELDS.items():
        value = data.get(name)
        if value is None and not required:
            info[name] = None
            continue
        if value is None:
            raise JobFileError(f"job.json lacks {name!r}")
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
            raise JobFileError(f"job.json: {name!r} is not of type {types[0].__name__}")
        info[name] = value[:ERROR_CHARS] if isinstance(value, str) else value
    if info["status"] not in JOB_STATUSES:
        raise JobFileError(f"job.json: status {info['status']!r} is not one of {JOB_STATUSES}")
    claimed = (info["method"], info["env"], info["seed"])
    if claimed != (method, env, seed):
        raise JobFileError(f"job.json describes another job: {'/'.join(map(str, claimed))}")
    return info


# -- collecting a job's outputs --------------------------------------------------------------------


@dataclass
class JobOutputs:
    """What the host kept of a job's outputs."""

    program: str = ""
    info: dict[str, Any] | None = None  # job.json's checked fields (None: none was written)
    problems: list[str] = field(default_factory=list)  # each makes the job fail
    notes: list[str] = field(default_factory=list)  # recorded, the job still counts


def collect_outputs(scratch: Path, published: Path, method: str, env: str, seed: int) -> JobOutputs:
    """Read the job's files in `scratch` safely and publish them in `published`."""
    outputs = JobOutputs()
    try:
        program = read_whole(scratch, "program.py", PROGRAM_CAP)
        if program is not None:
            outputs.program = program.decode("utf-8", errors="replace")
            atomic_write_bytes(published / "program.py", outputs.program.encode())
    except JobFileError as exc:
        outputs.problems.append(f"{exc}; the program was not scored")
    try:
        data = read_whole(scratch, "job.json", JOB_INFO_CAP)
        if data is not None:
            try:
                parsed = json.loads(data)
            except ValueError as exc:
                raise JobFileError(f"job.json is not JSON: {exc}") from None
            outputs.info = check_job_info(parsed, method, env, seed)
            text = json.dumps(outputs.info, indent=2, sort_keys=True, allow_nan=False)
            atomic_write_bytes(published / "job.json", (text + "\n").encode())
    except (JobFileError, ValueError) as exc:  # ValueError: NaN in a number field
        outputs.info = None
        outputs.problems.append(f"invalid job output: {exc}")
    for name, cap in (("trace.jsonl", TRACE_CAP), ("log.txt", LOG_CAP)):
        try:
            with open_regular(scratch, name) as fd:
                if fd is not None and copy_capped(fd, published / name, cap):
                    outputs.notes.append(f"{name} was cut at {cap} bytes")
        except JobFileError as exc:
            outputs.problems.append(f"invalid job output: {exc}")
    return outputs


def folder_usage(folder: Path, entry_limit: int) -> tuple[int, int]:
    """(bytes on disk, entries) under `folder`, links not followed; counting stops past
    `entry_limit` entries (the caller treats that as over quota)."""
    used = entries = 0
    pending = [folder]
    while pending and entries <= entry_limit:
        try:
            with os.scandir(pending.pop()) as listing:
                for entry in listing:
                    entries += 1
                    try:
                        info = entry.stat(follow_symlinks=False)
                    except OSError:
                        continue
                    used += getattr(info, "st_blocks", 0) * 512 or info.st_size
                    if stat.S_ISDIR(info.st_mode):
                        pending.append(Path(entry.path))
        except OSError:
            continue  # removed or unreadable meanwhile
    return used, entries
