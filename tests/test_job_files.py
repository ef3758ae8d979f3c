"""The host's reader of job outputs (cwmb/bench/job_files.py), the results-folder lock and the
report's bounded trace reader: each refusal and each cap, one by one."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tracemalloc
from pathlib import Path

import pytest

from analysis import load
from cwmb.bench import job_files
from cwmb.bench.job_files import (
    JobFileError,
    check_job_info,
    collect_outputs,
    folder_usage,
    open_regular,
    read_capped,
)
from cwmb.bench.lock import FolderInUse, FolderLock

INFO = {"status": "ok", "error": None, "method": "m", "env": "CartPole-v1", "seed": 0}


@pytest.fixture()
def folders(tmp_path):
    scratch, published = tmp_path / "scratch", tmp_path / "published"
    scratch.mkdir()
    published.mkdir()
    return scratch, published


def collect(scratch: Path, published: Path) -> job_files.JobOutputs:
    return collect_outputs(scratch, published, "m", "CartPole-v1", 0)


def test_a_regular_file_is_read_and_a_missing_one_is_none(folders):
    scratch, _ = folders
    (scratch / "program.py").write_text("x = 1\n")
    with open_regular(scratch, "program.py") as fd:
        assert fd is not None and read_capped(fd, 100) == (b"x = 1\n", False)
    with open_regular(scratch, "job.json") as fd:
        assert fd is None


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: os.symlink("/etc/passwd", p), "is a symbolic link"),
        (lambda p: os.symlink("missing", p), "is a symbolic link"),
        (os.mkfifo, "is not a regular file"),
        (os.mkdir, "is not a regular file"),
        (lambda p: os.link(p.with_name("other"), p), "has other hard links"),
    ],
)
def test_anything_but_a_single_regular_file_is_refused(folders, make, message):
    scratch, _ = folders
    (scratch / "other").write_text("host data")
    make(scratch / "program.py")
    with pytest.raises(JobFileError, match=message), open_regular(scratch, "program.py"):
        pass


def test_a_replaced_output_folder_is_a_problem_not_a_crash(folders):
    scratch, published = folders
    scratch.rmdir()
    os.symlink("/etc", scratch)
    outputs = collect(scratch, published)
    assert outputs.program == "" and outputs.info is None
    assert outputs.problems[0].startswith("the job's output folder cannot be opened")
    assert not any(published.iterdir())


def test_reads_stop_at_the_cap(folders):
    scratch, published = folders
    (scratch / "program.py").write_bytes(b"#" * (job_files.PROGRAM_CAP + 1))
    (scratch / "job.json").write_text(json.dumps(INFO))
    outputs = collect(scratch, published)
    assert outputs.program == ""
    assert outputs.problems == [
        f"program.py is larger than {job_files.PROGRAM_CAP} bytes; the program was not scored"
    ]
    assert not (published / "program.py").exists()


def test_a_long_trace_is_cut_at_its_cap(folders, monkeypatch):
    scratch, published = folders
    monkeypatch.setattr(job_files, "TRACE_CAP", 1000)
    (scratch / "trace.jsonl").write_bytes(b"{}\n" * 1000)
    (scratch / "job.json").write_text(json.dumps(INFO))
    outputs = collect(scratch, published)
    assert outputs.problems == [] and outputs.notes == ["trace.jsonl was cut at 1000 bytes"]
    assert (published / "trace.jsonl").stat().st_size == 1000


def test_valid_outputs_are_published_with_only_the_known_job_fields(folders):
    scratch, published = folders
    (scratch / "program.py").write_text("class Environment: ...\n")
    (scratch / "job.json").write_text(json.dumps(INFO | {"train_accuracy": 0.5, "extra": [1]}))
    (scratch / "log.txt").write_text("log\n")
    (scratch / "score.json").write_text('{"status": "ok"}')  # never published: the host's name
    outputs = collect(scratch, published)
    assert outputs.problems == [] and outputs.program == "class Environment: ...\n"
    assert outputs.info is not None and "extra" not in outputs.info
    assert outputs.info["train_accuracy"] == 0.5
    assert sorted(p.name for p in published.iterdir()) == ["job.json", "log.txt", "program.py"]
    assert json.loads((published / "job.json").read_text()) == outputs.info


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([1, 2], "job.json holds a JSON list, not an object"),
        ("ok", "job.json holds a JSON str, not an object"),
        ({k: v for k, v in INFO.items() if k != "status"}, "job.json lacks 'status'"),
        (INFO | {"status": "great"}, "status 'great' is not one of"),
        (INFO | {"seed": "0"}, "'seed' is not of type int"),
        (INFO | {"seed": True}, "'seed' is not of type int"),
        (INFO | {"train_accuracy": "1.0"}, "'train_accuracy' is not of type int"),
        (INFO | {"method": "other"}, "describes another job: other/CartPole-v1/0"),
    ],
)
def test_a_job_json_of_the_wrong_shape_is_refused(data, message):
    with pytest.raises(JobFileError, match=message):
        check_job_info(data, "m", "CartPole-v1", 0)


def test_job_json_errors_are_problems_not_crashes(folders):
    scratch, published = folders
    (scratch / "job.json").write_text("{not json")
    assert collect(scratch, published).problems[0].startswith("invalid job output: job.json is not")
    (scratch / "job.json").write_text(json.dumps(INFO | {"train_accuracy": float("nan")}))
    assert collect(scratch, published).problems[0].startswith("invalid job output:")
    (scratch / "job.json").write_bytes(b" " * (job_files.JOB_INFO_CAP + 1))
    assert "job.json is larger than" in collect(scratch, published).problems[0]
    assert not (published / "job.json").exists()


def test_files_planted_in_a_scratch_folder_are_no_results(tmp_path):
    from cwmb.bench.results import RunFolder

    forged = tmp_path / ".scratch" / "abc" / "seed0"
    forged.mkdir(parents=True)
    (forged / "score.json").write_text(json.dumps({"method": "x", "env": "y", "seed": 0}))
    folder = RunFolder(tmp_path)
    assert folder.scores() == []
    assert load.find_job_dirs(tmp_path) == {}


def test_folder_usage_counts_bytes_and_entries_without_following_links(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "big").write_bytes(b"x" * 100_000)
    os.symlink("/", tmp_path / "root")
    used, entries = folder_usage(tmp_path, 1000)
    assert entries == 3 and 100_000 <= used < 200_000
    for i in range(50):
        (tmp_path / f"f{i}").touch()
    assert folder_usage(tmp_path, 10)[1] > 10  # counting stops soon after the limit


def test_the_trace_reader_never_holds_a_long_line(tmp_path, monkeypatch):
    monkeypatch.setattr(load, "TRACE_LINE_LIMIT", 1 << 20)
    trace = tmp_path / "trace.jsonl"
    with trace.open("wb") as handle:
        handle.write(b'{"event": "llm", "messages": "' + b"m" * (30 << 20) + b'"}\n')
        handle.write(b'{"event": "note", "text": "' + b"n" * (30 << 20) + b'"}\n')
        handle.write(b'{"event": "evaluation", "accuracy": 0.5}\n')
    warnings: list[str] = []
    tracemalloc.start()
    evaluations, _ = load.read_trace_events(trace, warnings)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 8 << 20, f"{peak} bytes for a 60 MB trace"
    assert evaluations == [
        {"index": 0, "llm_calls": 1, "accuracy": 0.5, "best_accuracy": 0.5, "buggy": False}
    ]
    assert any("skipped 1 line" in w for w in warnings)


def test_the_trace_reader_keeps_a_bounded_number_of_events(tmp_path, monkeypatch):
    monkeypatch.setattr(load, "TRACE_EVENT_LIMIT", 10)
    trace = tmp_path / "trace.jsonl"
    trace.write_text('{"event": "evaluation", "accuracy": 0.1}\n' * 25)
    warnings: list[str] = []
    evaluations, _ = load.read_trace_events(trace, warnings)
    assert len(evaluations) == 10
    assert warnings == [f"{trace}: kept the first 10 events, 15 more left out"]


HOLD = (
    "import sys, time; from pathlib import Path; from cwmb.bench.lock import FolderLock\n"
    "FolderLock(Path(sys.argv[1])).acquire(); print('held', flush=True); time.sleep(60)"
)


def test_a_held_lock_names_its_holder_and_a_dead_holders_lock_is_taken(tmp_path, capsys):
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path)], stdout=subprocess.PIPE)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == b"held\n"
        with pytest.raises(FolderInUse, match=rf"in use by another bench \(pid {holder.pid} on "):
            FolderLock(tmp_path).acquire()
    finally:
        holder.kill()
        holder.wait()
    with FolderLock(tmp_path) as lock:
        assert f"taking over the stale lock of pid {holder.pid}" in capsys.readouterr().err
        assert lock.path.read_text().startswith(f"pid {os.getpid()} on host ")
        with pytest.raises(FolderInUse):  # one holder, even within one process
            FolderLock(tmp_path).acquire()
    assert lock.path.read_text() == ""  # released: no holder named
    with FolderLock(tmp_path):
        assert "stale" not in capsys.readouterr().err
