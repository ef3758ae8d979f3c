"""The record/replay cache of LLM calls: SQLite in WAL mode, shared safely by concurrent processes.

An answer is stored under (scope, request key, occurrence):
- the request key hashes the model, the messages and every sampling parameter;
- the occurrence is the index of this identical request among those seen so far in this cache
  session, so a method that samples the same prompt five times gets five different stored answers
  back in the order they were first produced;
- the scope is the job id (`method/env/seed`, or "" outside a bench). Occurrences are counted per
  job, so jobs that run in parallel and happen to ask the same thing still replay exactly.

Modes: `read-write` answers hits from the cache and records misses; `replay` answers only from
the cache (a miss is a `ReplayMiss` naming the request, never a live call); `off` neither reads
nor writes. When two processes record the same slot at once, the first write wins and both return
the stored answer, so what a run saw is always what a replay will see.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import IO, Any

from cwmb.errors import CwmbError
from cwmb.llm.errors import ReplayMiss
from cwmb.llm.wire import Json, Reply

CACHE_DIR_ENV = "CWMB_CACHE_DIR"
CACHE_FILE = "llm-cache.sqlite"
EXPORT_FORMAT = "cwmb-llm-cache/1"
SCHEMA_VERSION = "1"

# Request fields that do not change the answer and so stay out of the key.
_UNKEYED = frozenset({"model", "messages", "stream", "stream_options", "user"})

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS requests (
    key TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    request TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS answers (
    scope TEXT NOT NULL,
    key TEXT NOT NULL REFERENCES requests(key),
    occurrence INTEGER NOT NULL,
    reply TEXT NOT NULL,
    created REAL NOT NULL,
    PRIMARY KEY (scope, key, occurrence)
);
"""


class CacheMode(StrEnum):
    READ_WRITE = "read-write"
    REPLAY = "replay"
    OFF = "off"

    @classmethod
    def parse(cls, text: str) -> CacheMode:
        try:
            return cls(text)
        except ValueError:
            raise CwmbError(
                f"unknown cache mode {text!r}; choose one of: {', '.join(m.value for m in cls)}"
            ) from None


def default_cache_dir() -> Path:
    """$CWMB_CACHE_DIR, else the user's cache directory (XDG on Linux, Caches on macOS)."""
    explicit = os.environ.get(CACHE_DIR_ENV)
    if explicit:
        return Path(explicit).expanduser()
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "cwmb"
    if sys.platform == "win32" and os.environ.get("LOCALAPPDATA"):
        return Path(os.environ["LOCALAPPDATA"]) / "cwmb" / "Cache"
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "cwmb"


def default_cache_path() -> Path:
    return default_cache_dir() / CACHE_FILE


def canonical_request(request: Json) -> Json:
    """The part of a chat request that decides its answer, in a stable form."""
    return {
        "model": request.get("model"),
        "messages": request.get("messages"),
        "params": {k: v for k, v in sorted(request.items()) if k not in _UNKEYED},
    }


def request_key(request: Json) -> str:
    return _key_of_canonical(canonical_request(request))


@dataclass(frozen=True)
class Slot:
    """Where one call's answer lives: assigned when the call arrives, before any waiting."""

    scope: str
    key: str
    occurrence: int
    request: Json


@dataclass(frozen=True)
class ImportResult:
    added: int
    already_present: int
    conflicts: int


def _describe(slot: Slot) -> str:
    messages = slot.request.get("messages") or []
    last = messages[-1].get("content", "") if messages and isinstance(messages[-1], dict) else ""
    excerpt = " ".join(str(last).split())[:60]
    job = f"job {slot.scope!r}, " if slot.scope else ""
    return (
        f"{job}model {slot.request.get('model')}, request {slot.key[:12]} "
        f"(occurrence {slot.occurrence}, last message {excerpt!r})"
    )


class LlmCache:
    """One process's handle on the cache file. Thread-safe; open one per process."""

    def __init__(
        self, path: Path | str | None = None, mode: CacheMode | str = CacheMode.READ_WRITE
    ):
        self.mode = CacheMode(mode)
        self.path = Path(path) if path is not None else default_cache_path()
        self._lock = threading.Lock()
        self._counts: dict[tuple[str, str], int] = {}
        self._db: sqlite3.Connection | None = None
        # Lookups get their own connection and lock, so a hit never waits behind a write that
        # is queued on another process's transaction (WAL readers do not wait for writers).
        self._reader: sqlite3.Connection | None = None
        self._read_lock = threading.Lock()
        if self.mode is not CacheMode.OFF:
            self._db = self._connect(self.path, create=self.mode is CacheMode.READ_WRITE)
            self._reader = self._connect(self.path, create=False, schema=False)

    # -- connection -------------------------------------------------------------------------
    @staticmethod
    def _connect(path: Path, create: bool, schema: bool = True) -> sqlite3.Connection:
        if not create and not path.exists():
            raise CwmbError(
                f"no LLM cache at {path} to replay from (set {CACHE_DIR_ENV} or import one with "
                "`cwmb cache import FILE`)"
            )
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # isolation_level=None: we issue BEGIN ourselves; timeout waits on other writers.
            db = sqlite3.connect(path, timeout=60.0, isolation_level=None, check_same_thread=False)
            db.execute("PRAGMA busy_timeout = 60000")
            if schema:
                LlmCache._ensure_schema(db)
            version = db.execute("SELECT value FROM meta WHERE name = 'schema'").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            raise CwmbError(f"cannot open the LLM cache at {path}: {exc}") from exc
        if version != SCHEMA_VERSION:
            raise CwmbError(
                f"the LLM cache at {path} has schema {version}, expected {SCHEMA_VERSION}"
            )
        return db

    @staticmethod
    def _ensure_schema(db: sqlite3.Connection) -> None:
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("PRAGMA synchronous = NORMAL")
        # Statements one by one: executescript() would commit outside our transaction.
        with _transaction(db):
            for statement in filter(None, (s.strip() for s in _SCHEMA.split(";"))):
                db.execute(statement)
            db.execute(
                "INSERT OR IGNORE INTO meta(name, value) VALUES ('schema', ?)",
                (SCHEMA_VERSION,),
            )

    def close(self) -> None:
        with self._lock, self._read_lock:
            for db in (self._db, self._reader):
                if db is not None:
                    db.close()
            self._db = self._reader = None

    def __enter__(self) -> LlmCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            raise CwmbError(f"the LLM cache at {self.path} is not open (mode {self.mode})")
        return self._db

    # -- the record/replay protocol ---------------------------------------------------------
    def slot(self, request: Json, scope: str = "") -> Slot:
        """Assign this call its occurrence index (call in arrival order)."""
        key = request_key(request)
        with self._lock:
            n = self._counts.get((scope, key), 0)
            self._counts[(scope, key)] = n + 1
        return Slot(scope, key, n, request)

    def restart(self, scope: str) -> None:
        """Count occurrences of `scope` from zero again: a job that starts (or starts over)
        replays its recorded answers from its first call."""
        with self._lock:
            for key in [k for k in self._counts if k[0] == scope]:
                del self._counts[key]

    def release(self, slot: Slot) -> None:
        """Give back the occurrence of a call that got no answer, so that the call which takes
        its place (usually the job's retry) is recorded where a replay will look for it."""
        with self._lock:
            if self._counts.get((slot.scope, slot.key)) == slot.occurrence + 1:
                self._counts[(slot.scope, slot.key)] = slot.occurrence

    def lookup(self, slot: Slot) -> Reply | None:
        """The stored answer, None on a miss in read-write/off mode; ReplayMiss in replay mode."""
        if self.mode is CacheMode.OFF:
            return None
        with self._read_lock:
            if self._reader is None:
                raise CwmbError(f"the LLM cache at {self.path} is closed")
            row = self._reader.execute(
                "SELECT reply FROM answers WHERE scope = ? AND key = ? AND occurrence = ?",
                (slot.scope, slot.key, slot.occurrence),
            ).fetchone()
        if row is not None:
            return Reply.from_json(json.loads(row[0]))
        if self.mode is CacheMode.REPLAY:
            raise ReplayMiss(
                f"replay miss: the cache at {self.path} has no answer for {_describe(slot)}"
            )
        return None

    def store(self, slot: Slot, reply: Reply) -> Reply:
        """Record a fresh answer; if another process recorded this slot first, return theirs."""
        if self.mode is not CacheMode.READ_WRITE:
            return reply
        with self._lock:
            db = self._conn()
            with _transaction(db):
                db.execute(
                    "INSERT OR IGNORE INTO requests(key, model, request) VALUES (?, ?, ?)",
                    (
                        slot.key,
                        str(slot.request.get("model")),
                        _dumps(canonical_request(slot.request)),
                    ),
                )
                db.execute(
                    "INSERT OR IGNORE INTO answers(scope, key, occurrence, reply, created) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (slot.scope, slot.key, slot.occurrence, _dumps(reply.to_json()), time.time()),
                )
                row = db.execute(
                    "SELECT reply FROM answers WHERE scope = ? AND key = ? AND occurrence = ?",
                    (slot.scope, slot.key, slot.occurrence),
                ).fetchone()
        return Reply.from_json(json.loads(row[0]))

    # -- inspection and sharing -------------------------------------------------------------
    def stats(self) -> Json:
        db = self._conn()
        with self._lock:
            answers, requests = db.execute(
                "SELECT (SELECT COUNT(*) FROM answers), (SELECT COUNT(*) FROM requests)"
            ).fetchone()
            per_model: dict[str, Any] = {}
            rows = db.execute(
                "SELECT r.model, a.scope, a.reply FROM answers a JOIN requests r ON r.key = a.key"
            )
            scopes: set[str] = set()
            for model, scope, reply_text in rows:
                usage = json.loads(reply_text).get("usage") or {}
                entry = per_model.setdefault(
                    model, {"answers": 0, "prompt_tokens": 0, "completion_tokens": 0}
                )
                entry["answers"] += 1
                entry["prompt_tokens"] += int(usage.get("prompt_tokens") or 0)
                entry["completion_tokens"] += int(usage.get("completion_tokens") or 0)
                scopes.add(scope)
        size = sum(p.stat().st_size for p in (self.path, Path(f"{self.path}-wal")) if p.exists())
        return {
            "path": str(self.path),
            "bytes": size,
            "answers": answers,
            "distinct_requests": requests,
            "jobs": len(scopes),
            "models": per_model,
        }

    def export_jsonl(self, out: IO[str], model: str | None = None, scope: str | None = None) -> int:
        """Write every stored answer (optionally of one model / job) as JSON lines."""
        query = (
            "SELECT a.scope, a.key, a.occurrence, r.request, a.reply, a.created "
            "FROM answers a JOIN requests r ON r.key = a.key"
        )
        where, params = [], []
        if model is not None:
            where.append("r.model = ?")
            params.append(model)
        if scope is not None:
            where.append("a.scope = ?")
            params.append(scope)
        if where:
            query += " WHERE " + " AND ".join(where)
        query += " ORDER BY a.scope, a.key, a.occurrence"
        with self._lock:
            rows = self._conn().execute(query, params).fetchall()
        for scope_, key, occurrence, request, reply, created in rows:
            record = {
                "format": EXPORT_FORMAT,
                "scope": scope_,
                "key": key,
                "occurrence": occurrence,
                "request": json.loads(request),
                "reply": json.loads(reply),
                "created": created,
            }
            out.write(_dumps(record) + "\n")
        return len(rows)

    def import_jsonl(self, lines: Iterable[str], source: str = "input") -> ImportResult:
        """Add exported answers. Existing slots are kept; a different answer for an existing slot
        counts as a conflict (the local one stays, so local replays do not change)."""
        records = list(_read_records(lines, source))
        added = present = conflicts = 0
        with self._lock:
            db = self._conn()
            with _transaction(db):
                for rec in records:
                    db.execute(
                        "INSERT OR IGNORE INTO requests(key, model, request) VALUES (?, ?, ?)",
                        (rec["key"], str(rec["request"].get("model")), _dumps(rec["request"])),
                    )
                    reply_text = _dumps(rec["reply"])
                    cur = db.execute(
                        "INSERT OR IGNORE INTO answers(scope, key, occurrence, reply, created) "
                        "VALUES (?, ?, ?, ?, ?)",
                        (rec["scope"], rec["key"], rec["occurrence"], reply_text, rec["created"]),
                    )
                    if cur.rowcount == 1:
                        added += 1
                        continue
                    stored = db.execute(
                        "SELECT reply FROM answers WHERE scope = ? AND key = ? AND occurrence = ?",
                        (rec["scope"], rec["key"], rec["occurrence"]),
                    ).fetchone()[0]
                    if json.loads(stored) == rec["reply"]:
                        present += 1
                    else:
                        conflicts += 1
        return ImportResult(added, present, conflicts)


def _read_records(lines: Iterable[str], source: str) -> Iterator[Json]:
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        where = f"{source}, line {number}"
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as exc:
            raise CwmbError(f"{where}: not JSON ({exc.msg})") from None
        if not isinstance(rec, dict) or rec.get("format") != EXPORT_FORMAT:
            raise CwmbError(
                f"{where}: not a CWMB LLM cache record (expected format {EXPORT_FORMAT})"
            )
        try:
            request, reply = rec["request"], rec["reply"]
            occurrence = int(rec["occurrence"])
            scope = str(rec["scope"])
            Reply.from_json(reply)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise CwmbError(f"{where}: incomplete record ({exc!r})") from None
        # The key is recomputed, so a hand-edited request cannot answer for another one.
        key = _key_of_canonical(request)
        if key != rec.get("key"):
            raise CwmbError(f"{where}: the key does not match the request (edited or corrupt)")
        yield {
            "scope": scope,
            "key": key,
            "occurrence": occurrence,
            "request": request,
            "reply": reply,
            "created": float(rec.get("created") or time.time()),
        }


def _key_of_canonical(canonical: Json) -> str:
    text = json.dumps(canonical, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


class _transaction:
    """BEGIN IMMEDIATE ... COMMIT: takes the write lock up front, so concurrent writers queue on
    the busy timeout instead of failing on a lock upgrade."""

    def __init__(self, db: sqlite3.Connection):
        self.db = db

    def __enter__(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, *rest: object) -> None:
        self.db.execute("ROLLBACK" if exc_type is not None else "COMMIT")
