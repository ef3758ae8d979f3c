"""Job status (ok / failed to load / failed) and the table `cwmb bench` prints at its end."""

from __future__ import annotations

from pathlib import Path

import results_synthetic as synth

from cwmb.bench.end_table import end_table
from cwmb.bench.results import (
    STATUS_FAILED,
    STATUS_NOT_LOADED,
    STATUS_OK,
    RunFolder,
    job_status,
    status_counts,
)


def test_a_program_that_does_not_load_is_its_own_status() -> None:
    assert job_status(job_ran=True, program_loaded=True, scored=True) == STATUS_OK
    assert job_status(job_ran=True, program_loaded=False, scored=True) == STATUS_NOT_LOADED
    assert job_status(job_ran=False, program_loaded=False, scored=False) == STATUS_FAILED
    assert job_status(job_ran=True, program_loaded=True, scored=False) == STATUS_FAILED


def test_status_counts_follow_the_status_order() -> None:
    scores = [{"status": s} for s in ("failed", "ok", "failed to load", "ok", "odd")]
    assert status_counts(scores) == {"ok": 2, "failed to load": 1, "failed": 1, "odd": 1}


def test_end_table_lists_every_job_and_counts_statuses(tmp_path: Path) -> None:
    folder = RunFolder(synth.make_results(tmp_path / "run"))
    text = end_table(folder)
    lines = text.splitlines()
    assert lines[0].split() == [
        "method",
        "environment",
        "seed",
        "status",
        "train",
        "acc",
        "held-out",
        "acc",
        "R",
    ]
    jobs = len(synth.METHODS) * len(synth.ENVS) * len(synth.SEEDS)
    assert len(lines) == jobs + 2
    assert lines[-1].startswith(f"{jobs} jobs: ") and "1 failed" in lines[-1]
    failed = next(line for line in lines if " failed " in line)
    assert failed.split()[-3:] == ["-", "-", "-"]  # a job with no score shows no numbers
    assert "0.9" in text or "1.000" in text


def test_end_table_of_an_empty_run(tmp_path: Path) -> None:
    assert end_table(RunFolder(tmp_path)) == "no finished jobs"
