"""`--method-arg` end to end: an ablation bench whose switch shows in the tree, option errors as one
line and a non-zero exit before any work, and the ablation report beside the paper's Table 6."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from llm_server import code_reply
from methods_helpers import methods_folder
from results_synthetic import score

from cwmb import cli

ENV = "CliffWalking-v1"
# Runs, but every step says the episode goes on and costs 1: wrong on some transitions, so an
# improve action is always possible.
WRONG = """
class Environment:
    def __init__(self):
        self.state = 36

    def set_state(self, state):
        self.state = int(state)

    def step(self, action):
        moves = {0: -12, 1: 1, 2: 12, 3: -1}
        self.state = min(47, max(0, self.state + moves[int(action)]))
        return self.state, -1.0, False
"""


def bench_command(base_url: str, out: Path, isolation: str, *extra: str) -> list[str]:
    return [sys.executable, "-m", "cwmb.cli", "bench", "--method", "gif-mcts",
            "--model", "openai/scripted", "--model-base-url", base_url, "--budget", "4",
            "--episodes", "1", "--envs", ENV, "--isolation", isolation, "--out", str(out),
            "--no-report", *extra]  # fmt: skip


def bench_env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "CWMB_CACHE_DIR": str(tmp_path / "cache"), "OPENAI_API_KEY": "sk-test"}


def purposes(trace: Path) -> list[str]:
    records = [json.loads(line) for line in trace.read_text().splitlines() if line.strip()]
    return [r["purpose"] for r in records if r["event"] == "llm"]


@pytest.mark.parametrize("isolation", ["process", pytest.param("docker", marks=pytest.mark.docker)])
def test_an_ablation_bench_runs_without_improve_and_records_the_option(
    scripted_llm, tmp_path, isolation
):
    scripted_llm.script(lambda request: code_reply(WRONG))
    # The same job with the default options does improve (so the switch is what removes it).
    full = tmp_path / "full-job"
    job = ["job", "--method", "gif-mcts", "--env", ENV, "--budget", "4", "--out", str(full),
           "--llm-url", scripted_llm.base_url, "--model", "openai/scripted"]  # fmt: skip
    assert cli.main(job) == 0
    assert "improve" in purposes(full / "trace.jsonl")

    result = subprocess.run(
        bench_command(
            scripted_llm.base_url, tmp_path, isolation, "--method-arg", "allow_improve=false"
        ),
        env=bench_env(tmp_path), capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    (run,) = [p for p in tmp_path.iterdir() if (p / "manifest.json").is_file()]
    assert "-allow_improve=false-" in run.name
    job_dir = run / "gif-mcts" / ENV / "seed0"
    assert purposes(job_dir / "trace.jsonl") == ["generate"] * 4
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["method_options"]["gif-mcts"]["allow_improve"] is False
    assert manifest["method_options"]["gif-mcts"]["max_fixes"] == 3  # resolved: every option
    assert manifest["method_options_changed"] == {"gif-mcts": {"allow_improve": False}}
    scored = json.loads((job_dir / "score.json").read_text())
    assert scored["method_options_changed"] == {"allow_improve": False}
    assert scored["job"]["method_options"]["allow_improve"] is False  # what the job applied
    (row,) = csv.DictReader((run / "summary.csv").open())
    assert row["method_options"] == "allow_improve=false"
    # The report names the variant wherever it names the method.
    assert cli.main(["report", str(run)]) == 0
    report = (run / "report" / "report.md").read_text()
    assert "| gif-mcts (allow_improve=false) |" in report
    assert "Per-environment results: gif-mcts (allow_improve=false)" in report


def run_bench(tmp_path: Path, *extra: str, method: str = "gif-mcts") -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "cwmb.cli", "bench", "--method", method, "--model",
               "openai/scripted", "--model-base-url", "http://127.0.0.1:9/v1", "--envs", ENV,
               "--isolation", "process", "--out", str(tmp_path / "out"), "--no-report", *extra]  # fmt: skip
    return subprocess.run(
        command, env=bench_env(tmp_path), capture_output=True, text=True, timeout=300, check=False
    )


@pytest.mark.parametrize(
    ("method", "argument", "message"),
    [
        ("gif-mcts", "allow_improv=false", "method 'gif-mcts' has no option allow_improv; its "
         "options: allow_generate=true (bool)"),
        ("gif-mcts", "max_fixes=many", "option max_fixes takes an int (int), got 'many'"),
        ("worldcoder", "selection=greedy", "option selection is one of thompson, sequential"),
        ("null", "depth=2", "method 'null' declares no options, but got depth"),
        ("gif-mcts", "max_fixes", "--method-arg takes KEY=VALUE, got 'max_fixes'"),
    ],
)  # fmt: skip
def test_option_errors_are_one_line_and_a_non_zero_exit(tmp_path, method, argument, message):
    result = run_bench(tmp_path, "--method-arg", argument, method=method)
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert not (tmp_path / "out").exists()  # nothing started


def test_the_host_never_imports_a_method_to_check_its_options(tmp_path, monkeypatch):
    loud = (
        "from dataclasses import dataclass\nfrom pathlib import Path\n"
        "Path(__file__).with_name('imported-on-host').write_text('x')\n\n"
        "@dataclass\nclass Options:\n    depth: int = 1\n\n"
        "def run(task):\n    return ''\n"
    )
    folder = methods_folder(tmp_path / "methods", monkeypatch, {"loud.py": loud})
    result = run_bench(tmp_path, "--method-arg", "depth=deep", method="loud")
    assert result.returncode == 2 and "option depth takes an int" in result.stderr
    assert not (folder / "imported-on-host").exists()


# -- the ablation report ---------------------------------------------------------------------------


def write_run(root: Path, changed: dict, accuracy: float) -> None:
    """A finished one-seed gif-mcts run on one discrete and one continuous environment."""
    root.mkdir(parents=True)
    manifest = {"run_id": root.name, "model": "openai/scripted", "budget": 6, "seeds": [0],
                "methods": ["gif-mcts"], "envs": ["CartPole-v1", "Pusher-v5"],
                "method_options_changed": {"gif-mcts": changed} if changed else {}}  # fmt: skip
    (root / "manifest.json").write_text(json.dumps(manifest))
    for env in ("CartPole-v1", "Pusher-v5"):
        job = root / "gif-mcts" / env / "seed0"
        job.mkdir(parents=True)
        result = score("gif-mcts", env, 0)
        result["splits"]["train"]["accuracy"] = accuracy
        result["method_options_changed"] = changed
        (job / "score.json").write_text(json.dumps(result))
        (job / "trace.jsonl").write_text("")


def test_the_ablation_report_sets_the_variants_beside_table_6(tmp_path, capsys):
    parent = tmp_path / "ablation"
    write_run(parent / "full", {}, 0.9)
    write_run(parent / "nofix", {"max_fixes": 0}, 0.5)
    write_run(parent / "other", {"exploration": 2.0}, 0.7)
    assert cli.main(["report", str(parent)]) == 0
    table = (parent / "report" / "tables" / "ablation.md").read_text()
    rows = {line.split(" | ")[0].strip("| "): line for line in table.splitlines()}
    assert "0.88 ± 0.07" in rows["gif-mcts [full]"] and "| 0.90 |" in rows["gif-mcts [full]"]
    no_fix = rows["gif-mcts (max_fixes=0) [no_fix]"]
    assert "0.81 ± 0.08" in no_fix and "0.21 ± 0.08" in no_fix and "| 0.50 |" in no_fix
    other = [cell.strip() for cell in rows["gif-mcts (exploration=2.0)"].strip("|").split("|")]
    assert other[-4:] == ["–"] * 4 and other[4] == "0.70"  # no paper variant for it
    html = (parent / "report" / "report.html").read_text()
    assert "Ablation (paper Table 6 format)" in html and "no_generate" in html
