"""The results folder of a run: layout, job states, atomic writes, manifest and summary.csv.

A job is finished when its `score.json` exists; it is written last and atomically, so a bench
killed at any moment leaves either a finished job or a folder that the next run clears and redoes.
Only the host writes the job folders: a running job writes into a scratch folder of its own under
`.scratch/`, which the host reads as untrusted input (cwmb/bench/job_files.py) and then removes."""

from __future__ import annotations

import csv
import io
import json
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cwmb.dataset import atomic_write_bytes
from cwmb.method_options import describe_values

SCRATCH_DIR = ".scratch"  # jobs' own output folders while they run

SUMMARY_COLUMNS = [
    "method",
    "env",
    "kind",
    "seed",
    "descriptions",
    "method_options",
    "status",
    "capabilities",  # what the method declared beyond the usual inputs ("references"), ";"-joined
    "train_accuracy",
    "heldout_accuracy",
    "train_paper_accuracy",
    "heldout_paper_accuracy",
    "train_state_accuracy",
    "train_reward_accuracy",
    "train_done_accuracy",
    "heldout_state_accuracy",
    "heldout_reward_accuracy",
    "heldout_done_accuracy",
    "train_solved",
    "heldout_solved",
    "return_mean",
    "return_std",
    "normalized_return",
    "random_return",
    "oracle_return",
    "llm_calls",
    "tokens_in",
    "tokens_out",
    "job_s",
    "llm_s",
    "scoring_s",
    "planning_s",
    "error",
]

# A job's status: it ran and its program was scored; its program (or none) did not load in the
# sandbox, so nothing was predicted; or the job itself failed.
STATUS_OK = "ok"
STATUS_NOT_LOADED = "failed to load"
STATUS_FAILED = "failed"
STATUSES = (STATUS_OK, STATUS_NOT_LOADED, STATUS_FAILED)


def job_status(job_ran: bool, program_loaded: bool, scored: bool) -> str:
    if not job_ran:
        return STATUS_FAILED
    if not program_loaded:
        return STATUS_NOT_LOADED
    return STATUS_OK if scored else STATUS_FAILED


def status_counts(scores: list[dict[str, Any]]) -> dict[str, int]:
    """How many jobs have each status, in STATUSES order (statuses with no job left out)."""
    found = [str(s.get("status")) for s in scores]
    ordered = [*STATUSES, *sorted(set(found) - set(STATUSES))]
    return {status: found.count(status) for status in ordered if status in found}


def write_json(path: Path, data: Any) -> None:
    atomic_write_bytes(
        path, (json.dumps(data, indent=2, sort_keys=True, allow_nan=False) + "\n").encode()
    )


@dataclass(frozen=True)
class RunFolder:
    root: Path

    @property
    def manifest_path(self) -> Path:
        return self.root / "manifest.json"

    @property
    def summary_path(self) -> Path:
        return self.root / "summary.csv"

    @property
    def speed_dir(self) -> Path:
        """Where `cwmb speed --out` results go to be shown in the report: speed/<EnvId>.json."""
        return self.root / "speed"

    def speed_path(self, env: str) -> Path:
        return self.speed_dir / f"{env}.json"

    def job_dir(self, method: str, env: str, seed: int) -> Path:
        return self.root / method / env / f"seed{seed}"

    def score_path(self, method: str, env: str, seed: int) -> Path:
        return self.job_dir(method, env, seed) / "score.json"

    def read_score(self, method: str, env: str, seed: int) -> dict[str, Any] | None:
        path = self.score_path(method, env, seed)
        if not path.is_file():
            return None
        try:
            return dict(json.loads(path.read_text()))
        except (OSError, json.JSONDecodeError):
            return None  # unreadable means unfinished: the job is redone

    def needs_run(self, method: str, env: str, seed: int, retry_failed: bool) -> bool:
        score = self.read_score(method, env, seed)
        if score is None:
            return True
        return retry_failed and score.get("status") != STATUS_OK

    def prepare_job(self, method: str, env: str, seed: int) -> Path:
        """An empty folder for a job that runs now (leftovers of an interrupted try are removed)."""
        path = self.job_dir(method, env, seed)
        if path.exists():
            shutil.rmtree(path)
        path.mkdir(parents=True)
        return path

    @property
    def scratch_root(self) -> Path:
        return self.root / SCRATCH_DIR

    def new_scratch(self) -> Path:
        """An empty folder that one job may write (and nothing else of the run)."""
        self.scratch_root.mkdir(mode=0o755, exist_ok=True)
        path = self.scratch_root / uuid.uuid4().hex
        path.mkdir()
        return path

    def clear_scratch(self) -> None:
        """Remove what jobs of an interrupted bench left behind (links are not followed)."""
        if self.scratch_root.is_dir() and not self.scratch_root.is_symlink():
            shutil.rmtree(self.scratch_root, ignore_errors=True)  # a straggler may still write

    def scores(self) -> list[dict[str, Any]]:
        found = []
        for path in sorted(self.root.glob("*/*/seed*/score.json")):
            if path.relative_to(self.root).parts[0].startswith("."):
                continue  # a job's scratch folder (or anything hidden) is never a result
            try:
                found.append(json.loads(path.read_text()))
            except (OSError, json.JSONDecodeError):
                continue
        return found

    def write_summary(self) -> None:
        """summary.csv from every finished job (rewritten only when its content changes)."""
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=SUMMARY_COLUMNS, lineterminator="\n")
        writer.writeheader()
        rows = sorted(
            (summary_row(s) for s in self.scores()),
            key=lambda r: (r["method"], r["env"], int(r["seed"])),
        )
        writer.writerows({k: spreadsheet_safe(v) for k, v in row.items()} for row in rows)
        data = buffer.getvalue().encode()
        if not self.summary_path.is_file() or self.summary_path.read_bytes() != data:
            atomic_write_bytes(self.summary_path, data)


# A spreadsheet reads a cell starting with one of these as a formula (or a field separator).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value: Any) -> Any:
    """A text cell that a spreadsheet would run as a formula gets a leading single quote; numbers
    (negative ones included) stay numbers."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def split_columns(splits: dict[str, Any]) -> dict[str, Any]:
    """The per-split columns of a score.json's `splits` (absent values stay None)."""
    columns: dict[str, Any] = {}
    for split in ("train", "heldout"):
        entry = splits.get(split) or {}
        columns[f"{split}_solved"] = entry.get("solved")
        for name in ("", "paper_", "state_", "reward_", "done_"):
            columns[f"{split}_{name}accuracy"] = entry.get(f"{name}accuracy")
    return columns


def summary_row(score: dict[str, Any]) -> dict[str, Any]:
    splits = score.get("splits") or {}
    planning = score.get("planning") or {}
    timings = score.get("timings") or {}
    row: dict[str, Any] = {
        key: score.get(key)
        for key in (
            "method",
            "env",
            "kind",
            "seed",
            "descriptions",
            "status",
            "llm_calls",
            "tokens_in",
            "tokens_out",
            "error",
        )
    }
    row["method_options"] = describe_values(score.get("method_options_changed") or {})
    row.update(split_columns(splits))
    row.update(
        return_mean=planning.get("mean"),
        return_std=planning.get("std"),
        normalized_return=planning.get("normalized_return"),
        random_return=planning.get("random"),
        oracle_return=planning.get("oracle"),
    )
    for key in ("job_s", "llm_s", "scoring_s", "planning_s"):
        row[key] = timings.get(key)
    capabilities = score.get("capabilities")
    if isinstance(capabilities, list):
        row["capabilities"] = ";".join(str(c) for c in capabilities)
    if isinstance(row.get("error"), str):
        row["error"] = row["error"].strip().splitlines()[-1][:300] if row["error"].strip() else None
    return row
