"""Attack: read the API key from the environment of another process — the bench, or its parents
(make, uv run, a shell) — through /proc/<pid>/environ.

Expected: the job sees only its own processes (its own PID namespace or container), none of which
holds an API key; the key appears nowhere in what the job writes."""

import json
import os

from runners.null import PROGRAM as NULL_PROGRAM


def run(task):
    seen, readable, keys = [], 0, []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        seen.append(pid)
        try:
            with open(f"/proc/{pid}/environ", "rb") as handle:
                entries = handle.read().split(b"\0")
        except OSError:
            continue
        readable += 1
        keys += [e.decode(errors="replace") for e in entries if b"API_KEY" in e]
    task.log("probe " + json.dumps({"pids": seen, "readable": readable, "keys": keys}))
    return NULL_PROGRAM
