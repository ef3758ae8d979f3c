"""`cwmb speed` results in a results folder (RUN/speed/<EnvId>.json) appear in the report beside
the paper's Table 8; a damaged one is skipped with a warning."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import results_synthetic as synth

from analysis.load import load_run
from analysis.report import build_report
from analysis.speed import speed_table
from cwmb.bench.results import RunFolder


def speed_result(env: str, llm_s: float, cwm_s: float) -> dict[str, Any]:
    accuracy = {"accuracy": 0.5, "state_accuracy": 0.0, "reward_accuracy": 1.0}
    return {
        "schema": "cwmb-speed/1",
        "env": env,
        "model": "local/gemma-3-270m",
        "isolation": "docker",
        "transitions": 5,
        "machine": {"cpus": 2, "load_average_1min": 3.25},
        "program_timing": {
            "per_step_s": cwm_s,
            "per_request_s": 1e-3,
            "session_start_s": 1.2,
        },
        "llm_timing": {"per_step_s": llm_s},
        "llm_accuracy": accuracy,
        "program_accuracy": accuracy | {"accuracy": 1.0},
    }


OURS = "this run: local/gemma-3-270m (docker sandbox, machine load 3.2 on 2 CPUs)"


def test_speed_results_sit_beside_table_8(tmp_path: Path) -> None:
    root = synth.make_results(tmp_path / "run")
    folder = RunFolder(root)
    folder.speed_dir.mkdir()
    folder.speed_path("CartPole-v1").write_text(json.dumps(speed_result("CartPole-v1", 4.0, 2e-5)))
    folder.speed_path("Taxi-v4").write_text(json.dumps(speed_result("Taxi-v4", 3.0, 1e-5)))
    table = speed_table(load_run(root))
    assert table is not None
    sources = [(row[0], row[1]) for row in table.rows]
    # Ours for both, in the benchmark's order; the paper's row only where Table 8 has the env.
    assert sources == [
        (OURS, "Taxi-v4†"),
        (OURS, "CartPole-v1"),
        ("paper (GPT-4 Turbo)", "CartPole-v1"),
    ]
    ours, published = table.rows[1], table.rows[2]
    assert ours[2:5] == ["4.00 s", "20.0 µs", "2e+05"]
    assert ours[7] == "0.500"
    assert published[2:5] == ["2.20 s", "50.0 µs", "4.4e+04"]
    report = build_report(root)
    html = report.html.read_text()
    assert 'id="speed"' in html and "paper (GPT-4 Turbo)" in html
    assert (report.folder / "tables" / "speed.md").is_file()


def test_a_damaged_speed_file_is_skipped_with_a_warning(tmp_path: Path) -> None:
    root = synth.make_results(tmp_path / "run")
    folder = RunFolder(root)
    folder.speed_dir.mkdir()
    broken = speed_result("CartPole-v1", 4.0, 2e-5)
    broken["llm_timing"] = {"per_step_s": "fast"}
    folder.speed_path("CartPole-v1").write_text(json.dumps(broken))
    folder.speed_path("Taxi-v4").write_text("{not json")
    run = load_run(root)
    assert run.speed == [] and speed_table(run) is None
    assert any("speed/CartPole-v1.json skipped: llm_timing.per_step_s" in w for w in run.warnings)
    assert any("speed/Taxi-v4.json skipped" in w for w in run.warnings)
