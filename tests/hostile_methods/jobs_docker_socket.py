"""Attack: reach the Docker engine's socket (root on the host) and ask it for its version — the
first step to starting a privileged container.

Expected: no Docker socket exists in the job's filesystem; every connection attempt fails."""

import glob
import json
import socket

from runners.null import PROGRAM as NULL_PROGRAM

CANDIDATES = ["/var/run/docker.sock", "/run/docker.sock", "/run/containerd/containerd.sock"]


def _ask(path):
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(5)
            sock.connect(path)
            sock.sendall(b"GET /version HTTP/1.0\r\n\r\n")
            return "answered: " + sock.recv(200).decode(errors="replace")
    except OSError as exc:
        return f"failed: {exc}"


def run(task):
    found = sorted(set(CANDIDATES) | set(glob.glob("/run/**/*.sock", recursive=True)))
    task.log("probe " + json.dumps({path: _ask(path) for path in found}))
    return NULL_PROGRAM
