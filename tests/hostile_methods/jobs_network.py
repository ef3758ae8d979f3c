"""Attack: go around the gateway and its budget — call the upstream LLM server directly, or reach
anything on the network.

The test writes the upstream server's address into `jobs_target.json` beside this module.
Expected: no connection succeeds (no network at all in the job), and the upstream server receives
no request from the job."""

import json
import socket
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

from runners.null import PROGRAM as NULL_PROGRAM


def _chat(base_url):
    body = json.dumps({"model": "scripted", "messages": [{"role": "user", "content": "hi"}]})
    request = urllib.request.Request(
        base_url + "/chat/completions", body.encode(), {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=5) as reply:
        return reply.read(100).decode(errors="replace")


def _connect(host, port):
    with socket.create_connection((host, port), timeout=5):
        return f"{host}:{port} open"


def run(task):
    upstream = json.loads(Path(__file__).with_name("jobs_target.json").read_text())["upstream"]
    where = urlparse(upstream)
    attempts = {
        "upstream_chat": lambda: _chat(upstream),
        "upstream_tcp": lambda: _connect(where.hostname, where.port),
        "public_tcp": lambda: _connect("1.1.1.1", 53),
        "dns": lambda: socket.getaddrinfo("example.com", 443),
    }
    found = {}
    for name, attempt in attempts.items():
        try:
            found[name] = f"worked: {attempt()}"
        except Exception as exc:  # what stopped it is the finding
            found[name] = f"failed: {type(exc).__name__}: {exc}"
    task.log("probe " + json.dumps(found))
    return NULL_PROGRAM
