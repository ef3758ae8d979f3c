"""`cwmb bench` end to end against the scripted LLM server: results, resume after kill -9, and a
rerun over a finished folder that makes no LLM call and rewrites nothing."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from llm_server import code_reply

from cwmb import registry

ENVS = ["Blackjack-v1", "CliffWalking-v1"]


def reference_rule(request: dict) -> str:
    """Answer every prompt with the reference program of the environment it describes."""
    text = json.dumps(request["messages"])
    for env_id in ENVS:
        if env_id in text:
            return code_reply(registry.get(env_id).reference_source())
    return code_reply("class Environment:\n    pass\n")


def bench_command(base_url: str, out: Path, *extra: str, isolation: str = "process") -> list[str]:
    options = "--method zero-shot --method null --model openai/scripted --episodes 1 --budget 1"
    return [sys.executable, "-m", "cwmb.cli", "bench", *options.split(), "--envs", *ENVS,
            "--model-base-url", base_url, "--isolation", isolation, "--out", str(out),
            "--run-id", "run", "--no-report", *extra]  # fmt: skip


def bench_env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "CWMB_CACHE_DIR": str(tmp_path / "cache"), "OPENAI_API_KEY": "sk-test"}


def snapshot(folder: Path) -> dict[str, tuple[int, bytes]]:
    """The run's result files (not the gateway log, the bench's lock or jobs' scratch folders)."""
    return {
        str(p.relative_to(folder)): (p.stat().st_mtime_ns, p.read_bytes())
        for p in sorted(folder.rglob("*"))
        if p.is_file()
        and p.name not in ("gateway.jsonl", "bench.lock")
        and ".scratch" not in p.relative_to(folder).parts
    }


@pytest.mark.parametrize("isolation", ["process", pytest.param("docker", marks=pytest.mark.docker)])
def test_bench_runs_every_job_and_writes_the_results_folder(scripted_llm, tmp_path, isolation):
    scripted_llm.script(reference_rule)
    result = subprocess.run(
        bench_command(scripted_llm.base_url, tmp_path, isolation=isolation),
        env=bench_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    run = tmp_path / "run"
    rows = list(csv.DictReader((run / "summary.csv").open()))
    assert {(r["method"], r["env"]) for r in rows} == {
        (m, e) for m in ("zero-shot", "null") for e in ENVS
    }
    by_key = {(r["method"], r["env"]): r for r in rows}
    # zero-shot got the reference from the scripted LLM: perfect on both splits.
    for env_id in ENVS:
        assert float(by_key[("zero-shot", env_id)]["heldout_accuracy"]) == 1.0
        assert by_key[("zero-shot", env_id)]["llm_calls"] == "1"
        assert by_key[("null", env_id)]["llm_calls"] == "0"
        assert float(by_key[("null", env_id)]["train_accuracy"]) < 1.0
    # Paper mode beside ours: CliffWalking's reference is perfect in both metrics; Blackjack's
    # hidden cards, masked in ours, are scored by the authors' metric.
    for split in ("train", "heldout"):
        assert float(by_key[("zero-shot", "CliffWalking-v1")][f"{split}_paper_accuracy"]) == 1.0
        assert float(by_key[("zero-shot", "Blackjack-v1")][f"{split}_paper_accuracy"]) < 1.0
    score = json.loads((run / "zero-shot/CliffWalking-v1/seed0/score.json").read_text())
    assert [s["paper_accuracy"] for s in score["splits"].values()] == [1.0, 1.0]
    assert score["job"]["train_paper_accuracy"] == 1.0
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["model"] == "openai/scripted" and manifest["budget"] == 1
    assert manifest["isolation"]["jobs"] == manifest["isolation"]["final_scoring"] == isolation
    assert "filesystem" in manifest["isolation"]["job_confinement"]["features"]
    for job in ("zero-shot/CliffWalking-v1/seed0", "null/Blackjack-v1/seed0"):
        for name in ("program.py", "trace.jsonl", "score.json", "log.txt"):
            assert (run / job / name).is_file(), (job, name)
    assert scripted_llm.upstream_calls == 2
    # The API key stays on the host: no job file mentions it.
    for path in run.rglob("*"):
        if path.is_file():
            assert b"sk-test" not in path.read_bytes(), path


@pytest.mark.slow
def test_killed_bench_resumes_without_repeating_jobs(scripted_llm, tmp_path):
    scripted_llm.script(reference_rule)
    run = tmp_path / "run"
    proc = subprocess.Popen(
        bench_command(scripted_llm.base_url, tmp_path),
        env=bench_env(tmp_path),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 300
    while not list(run.glob("*/*/seed0/score.json")):
        assert proc.poll() is None and time.monotonic() < deadline, "bench ended before the kill"
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    finished = {p: p.read_bytes() for p in run.glob("*/*/seed0/score.json")}
    assert 1 <= len(finished) < 4
    calls_before = scripted_llm.upstream_calls

    result = subprocess.run(
        bench_command(scripted_llm.base_url, tmp_path),
        env=bench_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"{len(finished)} of 4 jobs already done" in result.stderr
    for path, content in finished.items():
        assert path.read_bytes() == content  # finished jobs were not redone
    assert len(list(run.glob("*/*/seed0/score.json"))) == 4
    assert not list(run.rglob("*.tmp")) and not list(run.rglob("*.part"))
    # Every LLM answer the first run got was cached; only calls never made before go upstream.
    assert scripted_llm.upstream_calls - calls_before <= 2 - sum(
        1 for p in finished if p.parts[-4] == "zero-shot"
    )
    rows = list(csv.DictReader((run / "summary.csv").open()))
    assert len(rows) == 4 and all(r["status"] == "ok" for r in rows)

    # A third run over the finished folder: no LLM call, no file rewritten.
    before, calls = snapshot(run), scripted_llm.upstream_calls
    result = subprocess.run(
        bench_command(scripted_llm.base_url, tmp_path, "--cache", "replay"),
        env=bench_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "4 of 4 jobs already done" in result.stderr
    assert scripted_llm.upstream_calls == calls
    assert snapshot(run) == before


def test_process_jobs_cannot_read_the_host_environment():
    """With process isolation the host makes itself non-dumpable, so a same-user job cannot read
    /proc/<host>/environ (where OPENAI_API_KEY lives)."""
    code = (
        "import ctypes; from cwmb.bench.launch import ProcessLauncher; ProcessLauncher(); "
        "print(ctypes.CDLL(None).prctl(3, 0, 0, 0, 0))"  # PR_GET_DUMPABLE
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "0"
