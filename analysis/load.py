"""Read a results folder (see notes on the results format) into pandas tables.

`load_run(path)` gives one row per job (from each job's `score.json`, completed by `summary.csv`
for jobs whose folder is gone), the evaluation events of every trace (with the number of LLM calls
spent when each evaluation happened) and the tree-node events of tree-search methods. Failed and
unfinished jobs stay in the job table with their status; missing or damaged traces only produce a
warning, because a report must still come out of a half-finished or partly broken run."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import pandas as pd

from cwmb.bench.results import SUMMARY_COLUMNS, split_columns
from cwmb.errors import CwmbError
from cwmb.method_options import describe_values
from cwmb.registry import DEFAULT_DESCRIPTION_TIER

# Columns the loader adds to the summary's: the job's budget and planner preset.
EXTRA_COLUMNS = ["budget", "preset"]
JOB_COLUMNS = SUMMARY_COLUMNS + EXTRA_COLUMNS
TEXT_COLUMNS = {
    "method",
    "env",
    "kind",
    "descriptions",
    "method_options",
    "status",
    "error",
    "preset",
}
BOOL_COLUMNS = {"train_solved", "heldout_solved"}

EVALUATION_COLUMNS = [
    "method",
    "env",
    "seed",
    "index",
    "llm_calls",
    "accuracy",
    "best_accuracy",
    "buggy",
]
NODE_COLUMNS = [
    "method",
    "env",
    "seed",
    "id",
    "parent",
    "action",
    "depth",
    "value",
    "visits",
    "accuracy",
    "buggy",
    "terminal",
]
NODE_ACTIONS = ("generate", "improve", "fix")

SEED_DIR = re.compile(r"^seed(\d+)$")
# A trace is read line by line: longer lines are skipped, and at most this many events are kept
# per trace, so a huge (or hostile) trace costs bounded memory.
TRACE_LINE_LIMIT = 16 << 20
TRACE_EVENT_LIMIT = 100_000
UNFINISHED = "unfinished"  # a job folder without score.json (running or interrupted)


@dataclass
class Run:
    """Everything the report needs from one results folder."""

    path: Path
    manifest: dict[str, Any]
    jobs: pd.DataFrame  # JOB_COLUMNS, one row per (method, env, seed)
    evaluations: pd.DataFrame  # EVALUATION_COLUMNS, in trace order per job
    nodes: pd.DataFrame  # NODE_COLUMNS, one row per expanded tree node
    warnings: list[str] = field(default_factory=list)

    @property
    def run_id(self) -> str:
        return str(self.manifest.get("run_id") or self.path.name)

    @property
    def methods(self) -> list[str]:
        """Methods in the manifest's order, then any others found in the folder."""
        return _ordered(self.manifest.get("methods") or [], self.jobs["method"])

    def method_options(self, method: str) -> str:
        """The options of `method` that differ from its defaults, as `key=value,...` ("" for
        none): from the manifest, else from the jobs."""
        changed = (self.manifest.get("method_options_changed") or {}).get(method)
        if isinstance(changed, dict):
            return describe_values(changed)
        found = self.jobs.loc[self.jobs["method"] == method, "method_options"].dropna()
        return str(found.iloc[0]) if len(found) else ""

    def method_label(self, method: str) -> str:
        """How tables name `method`: with its non-default options, e.g. `gif-mcts (max_fixes=0)`."""
        options = self.method_options(method)
        return f"{method} ({options})" if options else method

    @property
    def envs(self) -> list[str]:
        return _ordered(self.manifest.get("envs") or [], self.jobs["env"])

    @property
    def preset(self) -> str | None:
        preset = self.manifest.get("preset")
        if isinstance(preset, dict):  # the preset's settings, with its name
            preset = preset.get("name")
        if preset:
            return str(preset)
        found = self.jobs["preset"].dropna().unique()
        return str(found[0]) if len(found) else None

    @property
    def descriptions(self) -> str:
        """The run's description tier (runs from before tiers existed used the standard one)."""
        return str(self.manifest.get("descriptions") or DEFAULT_DESCRIPTION_TIER)

    @property
    def compares_with_paper(self) -> bool:
        """Only standard-tier runs are set beside the paper, whose prompts were the docstrings."""
        tiers = set(self.jobs["descriptions"].dropna())
        return self.descriptions == DEFAULT_DESCRIPTION_TIER and tiers <= {self.descriptions}


def _ordered(declared: list[Any], found: pd.Series) -> list[str]:
    names = [str(n) for n in declared]
    for name in found.dropna().unique():
        if str(name) not in names:
            names.append(str(name))
    return names


# -- entry point -------------------------------------------------------------------------------


def load_run(path: Path | str) -> Run:
    """Read the results folder at `path`; a CwmbError if it is missing or holds no results."""
    root = Path(path)
    if not root.exists():
        raise CwmbError(f"results folder {root} does not exist")
    if not root.is_dir():
        raise CwmbError(f"{root} is not a folder (give a results folder such as results/<run-id>)")
    warnings: list[str] = []
    manifest = _read_manifest(root, warnings)
    job_dirs = find_job_dirs(root)
    summary_path = root / "summary.csv"
    if not job_dirs and not summary_path.is_file():
        raise CwmbError(
            f"{root} holds no results: no summary.csv and no <method>/<EnvId>/seed<k>/ job folders"
        )
    rows: dict[tuple[str, str, int], dict[str, Any]] = {}
    for key, job_dir in job_dirs.items():
        rows[key] = _job_row(key, job_dir, warnings)
    if summary_path.is_file():
        for row in _read_summary(summary_path, warnings):
            rows.setdefault((row["method"], row["env"], int(row["seed"])), row)
    if not rows:
        raise CwmbError(f"{root} holds no results: summary.csv has no rows and no job folders")
    jobs = _jobs_frame(list(rows.values()), manifest)

    evaluations: list[dict[str, Any]] = []
    nodes: list[dict[str, Any]] = []
    missing_traces = []
    for key, job_dir in job_dirs.items():
        trace = job_dir / "trace.jsonl"
        if not trace.is_file():
            if rows[key].get("status") == "ok":
                missing_traces.append("/".join(map(str, key)))
            continue
        job_evaluations, job_nodes = read_trace_events(trace, warnings, trace.relative_to(root))
        method, env, seed = key
        ids = {"method": method, "env": env, "seed": seed}
        evaluations += [ids | e for e in job_evaluations]
        nodes += [ids | n for n in job_nodes]
    if missing_traces:
        warnings.append(
            f"{len(missing_traces)} finished job(s) have no trace.jsonl: "
            + ", ".join(missing_traces[:5])
            + (" ..." if len(missing_traces) > 5 else "")
        )
    return Run(
        path=root,
        manifest=manifest,
        jobs=jobs,
        evaluations=pd.DataFrame(evaluations, columns=EVALUATION_COLUMNS),
        nodes=pd.DataFrame(nodes, columns=NODE_COLUMNS),
        warnings=warnings,
    )


def find_job_dirs(root: Path) -> dict[tuple[str, str, int], Path]:
    """`<method>/<EnvId>/seed<k>/` folders under `root`, keyed by (method, env, seed)."""
    found = {}
    for seed_dir in sorted(root.glob("*/*/seed*")):
        match = SEED_DIR.match(seed_dir.name)
        hidden = seed_dir.relative_to(root).parts[0].startswith(".")  # e.g. jobs' scratch
        if match and seed_dir.is_dir() and not hidden:
            found[(seed_dir.parent.parent.name, seed_dir.parent.name, int(match.group(1)))] = (
                seed_dir
            )
    return found


# -- manifest, score.json and summary.csv --------------------------------------------------------


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _read_manifest(root: Path, warnings: list[str]) -> dict[str, Any]:
    path = root / "manifest.json"
    if not path.is_file():
        warnings.append("manifest.json is missing: run settings are unknown")
        return {}
    try:
        manifest = _read_json(path)
    except (OSError, ValueError) as exc:
        warnings.append(f"manifest.json cannot be read ({exc}): run settings are unknown")
        return {}
    if not isinstance(manifest, dict):
        warnings.append("manifest.json is not a JSON object: run settings are unknown")
        return {}
    return manifest


def score_row(score: dict[str, Any]) -> dict[str, Any]:
    """A score.json flattened into summary.csv's columns (plus budget and preset)."""
    splits = score.get("splits") or {}
    planning = score.get("planning") or {}
    timings = score.get("timings") or {}
    row: dict[str, Any] = {
        "method": score.get("method"),
        "env": score.get("env"),
        "kind": score.get("kind"),
        "seed": score.get("seed"),
        "descriptions": score.get("descriptions"),
        "method_options": describe_values(score.get("method_options_changed") or {}),
        "status": score.get("status"),
        "error": score.get("error"),
        "budget": score.get("budget"),
        "llm_calls": score.get("llm_calls"),
        "tokens_in": score.get("tokens_in"),
        "tokens_out": score.get("tokens_out"),
        "return_mean": planning.get("mean"),
        "return_std": planning.get("std"),
        "normalized_return": planning.get("normalized_return"),
        "random_return": planning.get("random"),
        "oracle_return": planning.get("oracle"),
        "preset": planning.get("preset"),
    }
    row.update(split_columns(splits))
    for name in ("job_s", "llm_s", "scoring_s", "planning_s"):
        row[name] = timings.get(name)
    return row


def _job_row(key: tuple[str, str, int], job_dir: Path, warnings: list[str]) -> dict[str, Any]:
    method, env, seed = key
    base: dict[str, Any] = {"method": method, "env": env, "seed": seed}
    score_path = job_dir / "score.json"
    if not score_path.is_file():
        return base | {"status": UNFINISHED, "error": "no score.json (job not finished)"}
    try:
        score = _read_json(score_path)
        if not isinstance(score, dict):
            raise ValueError("not a JSON object")
    except (OSError, ValueError) as exc:
        warnings.append(f"{method}/{env}/seed{seed}/score.json cannot be read: {exc}")
        return base | {"status": "failed", "error": f"unreadable score.json: {exc}"}
    # The folder names the job; a score.json that disagrees is reported, not trusted.
    row = score_row(score)
    for name, value in base.items():
        if row.get(name) not in (None, value):
            warnings.append(
                f"{method}/{env}/seed{seed}/score.json says {name}={row[name]!r}; "
                "using the folder's name"
            )
    return row | base


def _read_summary(path: Path, warnings: list[str]) -> list[dict[str, Any]]:
    try:
        frame = pd.read_csv(path, dtype={"method": str, "env": str, "error": str})
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        warnings.append(f"summary.csv cannot be read: {exc}")
        return []
    missing = {"method", "env", "seed"} - set(frame.columns)
    if missing:
        warnings.append(f"summary.csv lacks the columns {sorted(missing)}; ignored")
        return []
    frame = frame.dropna(subset=["method", "env", "seed"])
    rows = frame.astype(object).where(frame.notna(), None).to_dict("records")
    return [{str(k): v for k, v in row.items()} for row in rows]


def _jobs_frame(rows: list[dict[str, Any]], manifest: dict[str, Any]) -> pd.DataFrame:
    frame = pd.DataFrame(rows)
    for column in JOB_COLUMNS:
        if column not in frame.columns:
            frame[column] = None
    frame = frame[JOB_COLUMNS].copy()
    frame["seed"] = frame["seed"].astype(int)
    frame["kind"] = [
        kind if isinstance(kind, str) and kind else _kind_of(env)
        for kind, env in zip(frame["kind"], frame["env"], strict=True)
    ]
    if manifest.get("budget") is not None:
        frame["budget"] = frame["budget"].where(frame["budget"].notna(), manifest["budget"])
    frame["descriptions"] = frame["descriptions"].where(
        frame["descriptions"].notna(), manifest.get("descriptions") or DEFAULT_DESCRIPTION_TIER
    )
    preset = manifest.get("preset")
    if isinstance(preset, dict):  # the preset's settings, with its name
        preset = preset.get("name")
    if isinstance(preset, str) and preset:
        frame["preset"] = frame["preset"].where(frame["preset"].notna(), preset)
    frame["status"] = frame["status"].fillna("failed").astype(str)
    for column in JOB_COLUMNS:
        if column in TEXT_COLUMNS:
            frame[column] = frame[column].astype(object).where(frame[column].notna(), None)
        elif column in BOOL_COLUMNS:
            frame[column] = frame[column].map(_as_bool).astype(object)
        elif column != "seed":
            frame[column] = pd.to_numeric(frame[column], errors="coerce").astype(float)
    return frame.sort_values(["method", "env", "seed"], kind="stable").reset_index(drop=True)


def _as_bool(value: Any) -> bool | None:
    if value is None or (isinstance(value, float) and value != value):
        return None
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes")
    return bool(value)


def _kind_of(env: str) -> str:
    """The action kind of a registered environment ("unknown" for others)."""
    from cwmb import registry

    try:
        return registry.get(env).kind
    except CwmbError:
        return "unknown"


# -- traces ----------------------------------------------------------------------------------------


def read_trace_events(
    path: Path, warnings: list[str], label: Path | None = None
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The evaluation and tree-node events of one trace file.

    Each evaluation gets the number of LLM calls made before it (its own `llm_calls` field if the
    trace has one, else the count of preceding "llm" records) and the best accuracy so far (a
    program that raised counting as 0, as the methods rank programs). Node
    records come from "node" events, or from the final "tree" record if there are none. Lines that
    are not JSON are skipped with one warning per file (naming the file as `label`)."""
    label = label or path
    evaluations: list[dict[str, Any]] = []
    nodes: list[dict[str, Any]] = []
    tree_nodes: list[dict[str, Any]] = []
    calls = 0
    best = float("-inf")
    bad_lines = dropped = 0
    try:
        handle = path.open("rb")
    except OSError as exc:
        warnings.append(f"{label} cannot be read: {exc}")
        return [], []
    with handle:
        for line, whole in bounded_lines(handle, TRACE_LINE_LIMIT):
            # LLM records are the bulk of a trace; count them without decoding their messages.
            if b'"event": "llm"' in line[:80]:
                calls += 1
                continue
            if not whole:
                bad_lines += 1
                continue
            if not line.strip():
                continue
            try:
                record = json.loads(line.decode("utf-8", errors="replace"))
            except ValueError:
                bad_lines += 1
                continue
            if not isinstance(record, dict):
                bad_lines += 1
                continue
            event = record.get("event")
            if event == "llm":
                calls += 1
            elif event in ("evaluation", "node") and len(evaluations) + len(nodes) >= (
                TRACE_EVENT_LIMIT
            ):
                dropped += 1
            elif event == "evaluation":
                accuracy = _number(record.get("accuracy"))
                spent = _number(record.get("llm_calls"))
                buggy = bool(record.get("n_errors")) or bool(record.get("error"))
                if accuracy is not None:
                    # As the methods choose their best program: one that raised counts as 0.
                    best = max(best, 0.0 if buggy else accuracy)
                evaluations.append(
                    {
                        "index": len(evaluations),
                        "llm_calls": int(spent) if spent is not None else calls,
                        "accuracy": accuracy,
                        "best_accuracy": best if best > float("-inf") else None,
                        "buggy": buggy,
                    }
                )
            elif event == "node":
                nodes.append(_node(record))
            elif event == "tree" and isinstance(record.get("nodes"), list):
                tree_nodes = [
                    _node(n)
                    for n in record["nodes"][:TRACE_EVENT_LIMIT]
                    if isinstance(n, dict) and n.get("action") in NODE_ACTIONS
                ]
    if bad_lines:
        warnings.append(
            f"{label}: skipped {bad_lines} line(s) that are not JSON objects "
            f"(or longer than {TRACE_LINE_LIMIT} bytes)"
        )
    if dropped:
        warnings.append(
            f"{label}: kept the first {TRACE_EVENT_LIMIT} events, {dropped} more left out"
        )
    return evaluations, nodes or tree_nodes


def bounded_lines(handle: BinaryIO, limit: int) -> Iterator[tuple[bytes, bool]]:
    """(line, whole) for each line of a binary file. A line longer than `limit` bytes yields only
    its first `limit` bytes with whole=False; the rest is skipped in pieces, never held."""
    while True:
        line = handle.readline(limit + 1)
        if not line:
            return
        if len(line) <= limit:
            yield line, True
            continue
        head, rest = line[:limit], line[limit:]
        while rest and not rest.endswith(b"\n"):
            rest = handle.readline(1 << 20)
        yield head, False


def _node(record: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": _number(record.get("id")),
        "parent": _number(record.get("parent")),
        "action": record.get("action"),
        "depth": _number(record.get("depth")),
        "value": _number(record.get("value")),
        "visits": _number(record.get("visits")),
        "accuracy": _number(record.get("accuracy")),
        "buggy": bool(record.get("buggy")),
        "terminal": bool(record.get("terminal")),
    }


def _number(value: Any) -> float | None:
    """A finite float, or None (traces write NaN and infinities as strings)."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if number == number and abs(number) != float("inf") else None
