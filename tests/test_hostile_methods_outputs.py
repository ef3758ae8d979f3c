"""Hostile methods against the host's handling of job outputs and job costs (issue 10, items 4, 5
and 7): each runs in a real bench, under process and Docker isolation, and the test checks the
concrete outcome: the host unharmed, the host's own score recorded, a clear error, nothing left
behind."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from cwmb import runner
from cwmb.bench.lock import FolderLock

METHODS = Path(__file__).parent / "hostile_methods"
ISOLATIONS = ["process", pytest.param("docker", marks=pytest.mark.docker)]
ENV = "Blackjack-v1"


def bench_command(method: str, out: Path, isolation: str, *extra: str) -> list[str]:
    return [sys.executable, "-m", "cwmb.cli", "bench", "--method", method,
            "--model", "openai/scripted", "--model-base-url", "http://127.0.0.1:9/v1",
            "--budget", "1", "--episodes", "1", "--envs", ENV, "--isolation", isolation,
            "--out", str(out), "--run-id", "run", *extra]  # fmt: skip


def bench_env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "CWMB_CACHE_DIR": str(tmp_path / "cache"), "OPENAI_API_KEY": "sk-test",
            runner.METHODS_PATH_VARIABLE: str(METHODS)}  # fmt: skip


def run_bench(
    tmp_path: Path, method: str, isolation: str, *extra: str, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        bench_command(method, tmp_path / "out", isolation, *extra),
        env=bench_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def job_folder(tmp_path: Path, method: str) -> Path:
    return tmp_path / "out" / "run" / method / ENV / "seed0"


def score_of(tmp_path: Path, method: str) -> dict[str, Any]:
    score = json.loads((job_folder(tmp_path, method) / "score.json").read_text())
    assert isinstance(score, dict)
    return score


def summary_row(tmp_path: Path) -> dict[str, str]:
    rows = list(csv.DictReader((tmp_path / "out" / "run" / "summary.csv").open()))
    assert len(rows) == 1
    return rows[0]


def assert_host_scored(score: dict[str, Any]) -> None:
    """The host scored the null program itself: real accuracies, far from a forged 1.0."""
    for split in ("train", "heldout"):
        accuracy = score["splits"][split]["accuracy"]
        assert isinstance(accuracy, float) and 0.0 <= accuracy < 0.9


def assert_nothing_left(tmp_path: Path) -> None:
    scratch = tmp_path / "out" / "run" / ".scratch"
    assert not scratch.exists() or not any(scratch.iterdir())


def ok_bench(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr, result.stderr[-3000:]


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_a_program_linked_to_a_host_file_is_refused(tmp_path, isolation):
    result = run_bench(tmp_path, "outputs-link-program", isolation, "--no-report")
    ok_bench(result)
    score = score_of(tmp_path, "outputs-link-program")
    assert score["status"] == "failed"
    assert "program.py is a symbolic link" in score["error"]
    assert not (job_folder(tmp_path, "outputs-link-program") / "program.py").exists()
    first_line = Path("/etc/passwd").read_text().splitlines()[0]
    for path in (tmp_path / "out").rglob("*"):
        if path.is_file() and not path.is_symlink():
            assert first_line not in path.read_text(errors="replace"), path
    assert_nothing_left(tmp_path)


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_links_to_host_paths_are_never_written_through(tmp_path, isolation):
    target = Path("/tmp/cwmb-hostile-outputs-link-target")
    target.unlink(missing_ok=True)
    result = run_bench(tmp_path, "outputs-link-host-files", isolation, "--no-report")
    ok_bench(result)
    assert not target.exists() and not target.is_symlink()
    folder = job_folder(tmp_path, "outputs-link-host-files")
    assert not any(p.is_symlink() for p in folder.iterdir())
    score = score_of(tmp_path, "outputs-link-host-files")
    assert score["status"] == "ok", score["error"]
    assert_host_scored(score)
    assert_nothing_left(tmp_path)


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_a_fifo_job_json_fails_the_job_at_once(tmp_path, isolation):
    started = time.monotonic()
    result = run_bench(tmp_path, "outputs-fifo-job-json", isolation, "--no-report", timeout=300)
    ok_bench(result)
    assert time.monotonic() - started < 240  # not blocked until a timeout
    score = score_of(tmp_path, "outputs-fifo-job-json")
    assert score["status"] == "failed"
    assert "job.json is not a regular file" in score["error"]
    assert_host_scored(score)
    assert_nothing_left(tmp_path)


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_a_malformed_job_json_and_a_forged_score_are_not_believed(tmp_path, isolation):
    method = "outputs-forged-job-json"
    ok_bench(run_bench(tmp_path, method, isolation, "--no-report"))
    score = score_of(tmp_path, method)
    assert score["status"] == "failed"
    assert "job.json holds a JSON list, not an object" in score["error"]
    assert_host_scored(score)
    row = summary_row(tmp_path)
    assert row["status"] == "failed" and float(row["heldout_accuracy"]) < 0.9
    first = (job_folder(tmp_path, method) / "score.json").read_bytes()

    resumed = run_bench(tmp_path, method, isolation, "--no-report")  # the job is done: kept
    ok_bench(resumed)
    assert "1 of 1 jobs already done" in resumed.stderr
    assert (job_folder(tmp_path, method) / "score.json").read_bytes() == first
    assert float(summary_row(tmp_path)["heldout_accuracy"]) < 0.9
    assert_nothing_left(tmp_path)


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_forged_trace_events_change_no_host_number(tmp_path, isolation):
    ok_bench(run_bench(tmp_path, "outputs-forged-trace", isolation))
    score = score_of(tmp_path, "outputs-forged-trace")
    assert score["status"] == "ok", score["error"]
    assert_host_scored(score)
    assert float(summary_row(tmp_path)["train_accuracy"]) < 0.9
    report = (tmp_path / "out" / "run" / "report" / "report.md").read_text()
    assert "Accuracy against LLM calls (the method's own log)" in report
    assert "which the host does not check" in report


PEAK_RSS = (
    "import resource, subprocess, sys\n"
    "code = subprocess.run(sys.argv[1:]).returncode\n"
    "print('peak-rss-kb', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr)\n"
    "sys.exit(code)\n"
)


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_a_stdout_flood_costs_the_host_bounded_memory(tmp_path, isolation):
    command = bench_command("outputs-flood-stdout", tmp_path / "out", isolation, "--no-report")
    result = subprocess.run(
        [sys.executable, "-c", PEAK_RSS, *command],
        env=bench_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    ok_bench(result)
    peak_mb = int(result.stderr.rsplit("peak-rss-kb", 1)[1].split()[0]) / 1024
    assert peak_mb < 700, f"the bench peaked at {peak_mb:.0f} MB for a 1 GiB flood"
    score = score_of(tmp_path, "outputs-flood-stdout")
    assert score["status"] == "ok", score["error"]
    assert_host_scored(score)


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_an_output_folder_over_quota_stops_the_job(tmp_path, isolation):
    result = run_bench(
        tmp_path, "outputs-fill-folder", isolation, "--output-quota", "64", "--no-report"
    )
    ok_bench(result)
    score = score_of(tmp_path, "outputs-fill-folder")
    assert score["status"] == "failed"
    assert "output over quota (64 MB or too many files)" in score["error"]
    assert_nothing_left(tmp_path)
    used = sum(p.stat().st_size for p in (tmp_path / "out").rglob("*") if p.is_file())
    assert used < 64 << 20


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_a_job_that_dies_early_is_a_failed_job_in_a_good_report(tmp_path, isolation):
    ok_bench(run_bench(tmp_path, "outputs-die-early", isolation))
    score = score_of(tmp_path, "outputs-die-early")
    assert score["status"] == "failed"
    assert "the job exited with status 3" in score["error"]
    assert summary_row(tmp_path)["status"] == "failed"
    assert (tmp_path / "out" / "run" / "report" / "report.md").is_file()
    assert_nothing_left(tmp_path)


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_job_timeout_stops_a_job_that_never_ends(tmp_path, isolation):
    started = time.monotonic()
    result = run_bench(
        tmp_path, "outputs-sleep", isolation, "--job-timeout", "5", "--no-report", timeout=300
    )
    ok_bench(result)
    assert time.monotonic() - started < 240
    score = score_of(tmp_path, "outputs-sleep")
    assert score["status"] == "failed"
    assert "the job exceeded its time limit of 5 s" in score["error"]
    assert_nothing_left(tmp_path)


def test_a_second_bench_on_a_folder_in_use_is_refused(tmp_path):
    folder = tmp_path / "out" / "run"
    folder.mkdir(parents=True)
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time; from pathlib import Path; from cwmb.bench.lock import FolderLock\n"
         "FolderLock(Path(sys.argv[1])).acquire(); print('held', flush=True); time.sleep(120)",
         str(folder)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        result = run_bench(tmp_path, "outputs-die-early", "process", "--no-report", timeout=120)
        assert result.returncode != 0
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and "in use by another bench" in lines[0], result.stderr
        assert f"pid {holder.pid} on host {os.uname().nodename}" in lines[0]
        assert not (folder / "manifest.json").exists()
    finally:
        holder.kill()
        holder.wait()
    with FolderLock(folder):  # its holder is dead: the lock is taken over
        pass


@pytest.mark.docker
def test_job_containers_keep_no_log_on_the_host(tmp_path):
    from cwmb import registry
    from cwmb.bench.launch import DockerLauncher, JobSpec

    spec = registry.get(ENV)
    job = JobSpec(
        method="null", env=ENV, seed=0, budget=1, out_dir=tmp_path,
        train_path=spec.split_path("train"), descriptions="standard",
        description_path=spec.description_path, job_env=lambda _: {}, socket_dir=None,
        timeout_s=1.0,
    )  # fmt: skip
    command = DockerLauncher().command(job, "name", tmp_path / "env")
    assert command[command.index("--log-driver") + 1] == "none"
