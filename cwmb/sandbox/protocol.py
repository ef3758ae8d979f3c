"""The wire protocol between the trusted host and a sandbox worker.

One JSON object per line in each direction, over the worker's stdin and stdout (which the worker
moves away from the program at start-up, so a program's prints cannot corrupt the channel).
Requests: {"op": "load" | "step_batch" | "plan" | "ping", ...}; answers: {"ok": true, ...} or
{"ok": false, "error": "..."}."""

from __future__ import annotations

import json
from typing import Any


def encode(message: dict[str, Any]) -> bytes:
    # NaN and infinities are legal values of a prediction; Python's json round-trips them.
    return (json.dumps(message, separators=(",", ":")) + "\n").encode()


def decode(line: bytes) -> dict[str, Any]:
    message = json.loads(line)
    if not isinstance(message, dict):
        raise ValueError("protocol message is not an object")
    return message
