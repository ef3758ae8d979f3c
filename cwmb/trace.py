"""The trace of a job: one JSON object per line, written and flushed as things happen.

Every record has `seq` (0, 1, ...), `event` (for example "llm", "evaluation", or a method's own
events such as GIF-MCTS's "node" and "tree") and `t` (seconds since the job started); the rest is
the event's own fields. NaN and infinities, which a program may predict, are written as strings
so the file stays strict JSON."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import IO, Any


def json_ready(value: Any) -> Any:
    """A strict-JSON copy of plain data (non-finite floats become strings, tuples lists)."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_ready(v) for v in value]
    return value


class TraceWriter:
    """Appends records to `path` (or only keeps them in memory when `path` is None)."""

    def __init__(self, path: Path | None = None, keep: bool = True):
        self.path = path
        self.records: list[dict[str, Any]] = []
        self._keep = keep
        self._seq = 0
        self._start = time.monotonic()
        self._handle: IO[str] | None = None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._handle = path.open("w", encoding="utf-8")

    def write(self, event: str, **fields: Any) -> dict[str, Any]:
        record = json_ready(
            {"seq": self._seq, "event": event, "t": round(time.monotonic() - self._start, 3)}
            | fields
        )
        self._seq += 1
        if self._keep:
            self.records.append(record)
        if self._handle is not None:
            self._handle.write(json.dumps(record, allow_nan=False, default=str) + "\n")
            self._handle.flush()
        return record

    def events(self, event: str) -> list[dict[str, Any]]:
        return [r for r in self.records if r["event"] == event]

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def __enter__(self) -> TraceWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_trace(path: Path) -> list[dict[str, Any]]:
    """The records of a trace file, in order."""
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]
