"""The short table `cwmb bench` prints when it ends: per job the environment, status, train and
held-out accuracy and normalized return R, then how many jobs have each status."""

from __future__ import annotations

from typing import Any

from cwmb.bench.results import RunFolder, status_counts, summary_row

HEADERS = ("method", "environment", "seed", "status", "train acc", "held-out acc", "R")


def _number(value: Any) -> str:
    return "-" if value is None else f"{float(value):.3f}"


def end_table(folder: RunFolder) -> str:
    """The finished jobs of `folder` as an aligned text table (one line when there are none)."""
    scores = folder.scores()
    if not scores:
        return "no finished jobs"
    rows = sorted(
        (summary_row(s) for s in scores), key=lambda r: (r["method"], r["env"], int(r["seed"]))
    )
    lines = [HEADERS] + [
        (
            str(r["method"]),
            str(r["env"]),
            str(r["seed"]),
            str(r["status"]),
            _number(r["train_accuracy"]),
            _number(r["heldout_accuracy"]),
            _number(r["normalized_return"]),
        )
        for r in rows
    ]
    widths = [max(len(line[i]) for line in lines) for i in range(len(HEADERS))]
    text = [
        "  ".join(
            cell.ljust(w) if i < 4 else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(line, widths, strict=True))
        )
        for line in lines
    ]
    counts = ", ".join(f"{n} {status}" for status, n in status_counts(scores).items())
    return "\n".join([*text, f"{len(scores)} jobs: {counts}"])
