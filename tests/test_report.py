"""The report: loading a results folder, tables, figures, the HTML page and `cwmb report`, on a
synthetic results folder (tests/results_synthetic.py)."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
import results_synthetic as synth

from analysis import paper
from analysis.document import build_document
from analysis.figures import best_so_far, per_env_frame
from analysis.load import load_run, read_trace_events
from analysis.report import build_report
from analysis.table import mean_std
from analysis.tables import (
    all_tables,
    baselines_table,
    per_env_table,
    seed_means,
    summary_table,
    tree_table,
)
from cwmb.cli import main
from cwmb.commands.report import build_report as report_hook
from cwmb.errors import CwmbError


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return synth.make_results(tmp_path_factory.mktemp("results") / "run-synthetic")


@pytest.fixture(scope="module")
def report(run_dir: Path):
    return build_report(run_dir)


def cell(table, row_label: str, column: str) -> str:
    index = table.columns.index(column)
    for row in table.rows:
        if row[0] == row_label:
            return row[index]
    raise AssertionError(f"no row {row_label!r} in {table.key}: {[r[0] for r in table.rows]}")


# -- loading -----------------------------------------------------------------------------------


def test_load_reads_every_job_with_its_status(run_dir: Path) -> None:
    run = load_run(run_dir)
    assert len(run.jobs) == 2 * 3 * 2
    assert run.methods == synth.METHODS and run.envs == list(synth.ENVS)
    failed = run.jobs[run.jobs["status"] == "failed"]
    assert [tuple(r) for r in failed[["method", "env", "seed"]].itertuples(index=False)] == [
        synth.FAILED
    ]
    assert failed["train_accuracy"].isna().all()
    assert "out of memory" in failed["error"].iloc[0]
    ok = run.jobs[run.jobs["status"] == "ok"]
    assert ok["train_accuracy"].notna().all()
    assert set(run.jobs["kind"]) == {"discrete", "continuous"}
    assert run.preset == synth.PRESET


def test_best_so_far_counts_a_raising_program_as_zero(tmp_path: Path) -> None:
    trace = tmp_path / "trace.jsonl"
    records = [
        {"event": "evaluation", "accuracy": 0.5, "n_errors": 0, "error": None},
        {"event": "evaluation", "accuracy": 0.9, "n_errors": 3, "error": "Traceback"},
        {"event": "evaluation", "accuracy": 0.6, "n_errors": 0, "error": None},
    ]
    trace.write_text("".join(json.dumps(r) + "\n" for r in records))
    evaluations = read_trace_events(trace, []).evaluations
    assert [e["best_accuracy"] for e in evaluations] == [0.5, 0.5, 0.6]
    assert [e["buggy"] for e in evaluations] == [False, True, False]


def test_load_takes_evaluations_and_calls_from_the_traces(run_dir: Path) -> None:
    run = load_run(run_dir)
    evals = run.evaluations
    jobs_with_traces = {
        (m, e, s)
        for m in synth.METHODS
        for e in synth.ENVS
        for s in synth.SEEDS
        if (m, e, s) not in (synth.NO_TRACE, synth.FAILED)
    }
    assert set(evals[["method", "env", "seed"]].itertuples(index=False, name=None)) >= (
        jobs_with_traces
    )
    one = evals[(evals["method"] == "gif-mcts") & (evals["env"] == "CartPole-v1")]
    one = one[one["seed"] == 0]
    # One LLM call precedes each evaluation in the synthetic traces.
    assert one["llm_calls"].tolist() == list(range(1, synth.BUDGET + 1))
    expected = synth.accuracies("gif-mcts", "CartPole-v1", 0)
    assert one["accuracy"].tolist() == expected
    assert one["best_accuracy"].tolist() == pd.Series(expected).cummax().tolist()


def test_load_is_tolerant_of_missing_and_damaged_traces(run_dir: Path) -> None:
    run = load_run(run_dir)
    method, env, seed = synth.NO_TRACE
    assert run.evaluations[
        (run.evaluations["method"] == method)
        & (run.evaluations["env"] == env)
        & (run.evaluations["seed"] == seed)
    ].empty
    assert any("no trace.jsonl" in w and f"{method}/{env}/{seed}" in w for w in run.warnings)
    method, env, seed = synth.DAMAGED_TRACE
    damaged = run.evaluations[
        (run.evaluations["method"] == method)
        & (run.evaluations["env"] == env)
        & (run.evaluations["seed"] == seed)
    ]
    assert len(damaged) == synth.BUDGET  # the torn line is skipped, the rest is read
    assert any("skipped 1 line" in w for w in run.warnings)


def test_load_reads_tree_nodes(run_dir: Path) -> None:
    nodes = load_run(run_dir).nodes
    assert set(nodes["method"]) == {"gif-mcts"}
    one = nodes[(nodes["env"] == "Taxi-v4") & (nodes["seed"] == 1)]
    assert one["action"].tolist() == [
        "generate",
        "generate",
        "improve",
        "fix",
        "generate",
        "improve",
    ]
    assert one["depth"].tolist() == [1, 2, 3, 4, 2, 3]
    assert one["buggy"].sum() == 1


def test_load_falls_back_to_the_tree_record_without_node_events(tmp_path: Path) -> None:
    job = tmp_path / "run" / "gif-mcts" / "CartPole-v1" / "seed0"
    job.mkdir(parents=True)
    (job / "score.json").write_text(json.dumps(synth.score("gif-mcts", "CartPole-v1", 0)))
    tree = {
        "seq": 0,
        "event": "tree",
        "nodes": [
            {"id": 0, "parent": None, "action": "root", "depth": 0},
            {"id": 1, "parent": 0, "action": "generate", "depth": 1, "buggy": True},
            {"id": 2, "parent": 1, "action": "fix", "depth": 2},
        ],
    }
    (job / "trace.jsonl").write_text(json.dumps(tree) + "\n")
    nodes = load_run(tmp_path / "run").nodes
    assert nodes["action"].tolist() == ["generate", "fix"]
    assert nodes["buggy"].tolist() == [True, False]


def test_summary_csv_alone_is_enough(tmp_path: Path) -> None:
    """A run whose job folders are gone still reports from summary.csv."""
    root = synth.make_results(tmp_path / "run")
    for method in synth.METHODS:
        shutil.rmtree(root / method)
    run = load_run(root)
    assert len(run.jobs) == 12 and run.evaluations.empty and run.nodes.empty
    assert (run.jobs["status"] == "failed").sum() == 1
    assert run.jobs["train_solved"].dropna().isin([True, False]).all()


def test_score_json_wins_over_a_stale_summary(tmp_path: Path) -> None:
    root = synth.make_results(tmp_path / "run")
    lines = (root / "summary.csv").read_text().splitlines()
    (root / "summary.csv").write_text("\n".join(lines[:1]) + "\n")  # a summary with no rows
    assert len(load_run(root).jobs) == 12


def test_unfinished_jobs_are_listed(tmp_path: Path) -> None:
    root = synth.make_results(tmp_path / "run", summary=False)
    (root / "gif-mcts" / "Taxi-v4" / "seed1" / "score.json").unlink()
    run = load_run(root)
    status = run.jobs.set_index(["method", "env", "seed"])["status"]
    assert status[("gif-mcts", "Taxi-v4", 1)] == "unfinished"
    table = all_tables(run)[-2]
    assert table.key == "failed_jobs" and len(table.rows) == 2


@pytest.mark.parametrize("make", ["missing", "empty", "file"])
def test_bad_folders_are_one_line_errors(tmp_path: Path, make: str) -> None:
    target = tmp_path / "run"
    if make == "empty":
        target.mkdir()
    elif make == "file":
        target.write_text("x")
    with pytest.raises(CwmbError) as info:
        load_run(target)
    assert "\n" not in str(info.value) and str(target) in str(info.value)


# -- numbers -----------------------------------------------------------------------------------


def test_mean_std_format() -> None:
    assert mean_std([0.5, 0.7]) == "0.60 ± 0.14"
    assert mean_std([0.5, None, float("nan")]) == "0.50"
    assert mean_std([None]) == "–"


def test_averages_are_per_seed_means_over_environments(run_dir: Path) -> None:
    run = load_run(run_dir)
    jobs = run.jobs[run.jobs["method"] == "gif-mcts"]
    per_seed = seed_means(jobs, "train_accuracy", "discrete")
    for seed, value in zip(synth.SEEDS, per_seed, strict=True):
        envs = ["CartPole-v1", "Taxi-v4"]
        expected = sum(max(synth.accuracies("gif-mcts", e, seed)) for e in envs) / 2
        assert value == pytest.approx(expected)
    table = summary_table(run)
    assert cell(table, "gif-mcts", "Discrete accuracy") == mean_std(per_seed)
    # The failed job is left out (not counted as 0): worldcoder's continuous mean is one job.
    pusher = max(synth.accuracies("worldcoder", "Pusher-v5", 0))
    assert cell(table, "worldcoder", "Continuous accuracy") == f"{pusher:.2f}"
    assert cell(table, "worldcoder", "Jobs scored") == "5/6"


def test_undefined_normalized_return_is_left_out(run_dir: Path) -> None:
    table = per_env_table(load_run(run_dir), "gif-mcts")
    # seed 1 has no R on Taxi: the cell is seed 0's value alone, not a mean with 0.
    taxi = max(synth.accuracies("gif-mcts", "Taxi-v4", 0))
    assert cell(table, "Taxi-v4†", "R") == f"{taxi:.2f}"


def test_paper_rows_and_columns_match_method_and_environment(run_dir: Path) -> None:
    run = load_run(run_dir)
    summary = summary_table(run)
    labels = [row[0] for row in summary.rows]
    assert "paper GIF-MCTS (Llama 3 70B, B=50)" in labels
    # The paper's accuracy is the authors' metric: it sits in the paper-mode column, not ours.
    assert cell(summary, "paper GIF-MCTS (Llama 3 70B, B=50)", "Discrete paper-mode accuracy") == (
        "0.84 ± 0.03"
    )
    assert cell(summary, "paper GIF-MCTS (Llama 3 70B, B=50)", "Discrete accuracy") == "–"
    paper_mode = [
        round(max(synth.accuracies("gif-mcts", "Pusher-v5", s)) * 0.7, 4) for s in synth.SEEDS
    ]
    table = per_env_table(run, "gif-mcts")
    assert cell(table, "Pusher-v5†", "Paper-mode accuracy") == mean_std(paper_mode)
    for notes in (summary.notes, table.notes):
        assert any("about 2/3" in note and "float32" in note for note in notes)
    # The paper's Taxi-v3 row sits beside our Taxi-v4, with the footnote saying so.
    assert cell(table, "Taxi-v4†", "Paper accuracy (Llama 3 70B, B=50)") == "0.92"
    assert cell(table, "Taxi-v4†", "Paper R (GPT-4 Turbo, B=10)") == "0.87"
    assert cell(table, "Pusher-v5†", "Paper accuracy (GPT-4 Turbo, B=10)") == "0.41"
    assert any("Taxi-v3" in note and "Taxi-v4" in note for note in table.notes)


def test_baselines_beside_the_papers(run_dir: Path) -> None:
    table = baselines_table(load_run(run_dir))
    # The synthetic preset is in no env.toml: the values the jobs used are shown.
    assert cell(table, "CartPole-v1", "Random") == "20.0"
    assert cell(table, "CartPole-v1", "Oracle") == "480.0"
    assert cell(table, "CartPole-v1", "Paper random") == "24.4"
    assert cell(table, "Taxi-v4†", "Paper oracle") == "-124.5"
    assert cell(table, "Pusher-v5†", "Paper GIF-MCTS (GPT-4 Turbo)") == "-63.3"


def test_only_standard_tier_runs_are_set_beside_the_paper(tmp_path: Path) -> None:
    runs = {
        tier: load_run(synth.make_results(tmp_path / tier, descriptions=tier))
        for tier in ("standard", "detailed")
    }
    for tier, run in runs.items():
        compared = tier == "standard"
        assert run.descriptions == tier and run.compares_with_paper is compared
        assert set(run.jobs["descriptions"]) == {tier}
        document = build_document(run, all_tables(run), [])
        assert dict(document.facts)["Descriptions"] == tier
        summary = summary_table(run)
        assert any(row[0].startswith("paper ") for row in summary.rows) is compared
        per_env = per_env_table(run, "gif-mcts")
        # The paper's published columns ("Paper accuracy (...)"), not our paper-mode column.
        assert any(column.startswith("Paper ") for column in per_env.columns) is compared
        baselines = baselines_table(run)
        assert "Paper random" in baselines.columns  # baselines need no description
        assert ("Paper GIF-MCTS (GPT-4 Turbo)" in baselines.columns) is compared
        series = set(per_env_frame(run, "train_accuracy", "accuracy")["series"])
        assert any(label.startswith("paper ") for label in series) is compared
        assert ("paper" in [section.key for section in document.sections]) is compared
        text = " ".join(document.sections[0].text)
        if compared:
            assert "Only standard-tier runs are compared with the paper" in text
        else:
            assert "none of the paper's numbers" in text
            assert any("no paper numbers" in note for note in summary.notes)


def test_a_run_from_before_tiers_is_standard_and_a_mixed_one_is_not_compared(
    run_dir: Path, tmp_path: Path
) -> None:
    old = load_run(run_dir)  # its manifest and score.json files name no tier
    assert old.descriptions == "standard" and old.compares_with_paper
    root = synth.make_results(tmp_path / "mixed", descriptions="standard")
    score_path = root / "gif-mcts" / "CartPole-v1" / "seed0" / "score.json"
    score = json.loads(score_path.read_text())
    score_path.write_text(json.dumps(score | {"descriptions": "detailed"}))
    assert not load_run(root).compares_with_paper


def test_paper_env_names_are_mapped() -> None:
    per_env = paper.per_env()
    assert {"Taxi-v4", "CliffWalking-v1", "Pusher-v5"} <= set(per_env["env"])
    assert not {"Taxi-v3", "CliffWalking-v0", "Pusher-v4"} & set(per_env["env"])
    assert paper.raw_returns().at["CliffWalking-v1", "paper_env"] == "CliffWalking-v0"
    assert pd.isna(paper.raw_returns().at["CliffWalking-v1", "cql"])  # the paper's N/A


def test_tree_table_counts_actions(run_dir: Path) -> None:
    table = tree_table(load_run(run_dir))
    assert table is not None
    row = next(r for r in table.rows if r[1] == "CartPole-v1")
    values = dict(zip(table.columns, row, strict=True))
    assert (values["Nodes"], values["Generate"], values["Improve"], values["Fix"]) == (
        "6",
        "3",
        "2",
        "1",
    )
    assert values["Max depth"] == "4"


def test_best_so_far_is_a_step_curve() -> None:
    evaluations = pd.DataFrame(
        {
            "method": ["m"] * 3,
            "env": ["E"] * 3,
            "seed": [0] * 3,
            "index": [0, 1, 2],
            "llm_calls": [1, 3, 3],
            "accuracy": [0.2, 0.1, 0.6],
            "best_accuracy": [0.2, 0.2, 0.6],
            "buggy": [False] * 3,
        }
    )
    curve = best_so_far(evaluations)
    assert curve["llm_calls"].tolist() == [1, 2, 3]
    assert curve["accuracy"].tolist() == [0.2, 0.2, 0.6]


# -- the written report --------------------------------------------------------------------------


def test_report_writes_markdown_figures_and_html(report, run_dir: Path) -> None:
    assert report.folder == run_dir / "report"
    names = sorted(p.name for p in report.figures)
    for key in (
        "accuracy_per_env",
        "paper_mode_accuracy_per_env",
        "return_per_env",
        "accuracy_vs_calls",
        "tree_actions",
    ):
        assert f"{key}.png" in names and f"{key}.svg" in names
    for path in report.figures:
        assert path.stat().st_size > 5000
        if path.suffix == ".png":
            assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        else:
            assert "<svg" in path.read_text()[:2000]
    md = report.markdown.read_text()
    assert "| gif-mcts |" in md and "(figures/accuracy_per_env.png)" in md
    assert (report.folder / "tables" / "summary.md").is_file()
    assert len(pd.read_csv(report.jobs_csv)) == 12


def test_html_is_self_contained(report) -> None:
    page = report.html.read_text()
    assert page.startswith("<!DOCTYPE html>")
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    assert "<script" not in page and "<link" not in page
    assert page.count('src="data:image/png;base64,') == len(report.figures) // 2
    for title in ("CWMB averages", "Per-environment results: worldcoder", "Jobs that failed"):
        assert title in page
    assert "embedded default model" in page  # the manifest says local/gemma-3-270m


def test_report_is_reproducible(report, run_dir: Path, tmp_path: Path) -> None:
    # Through the hook `cwmb bench` calls after a run.
    again = report_hook(run_dir, tmp_path / "again")
    assert again.markdown.read_text() == report.markdown.read_text()
    for first, second in zip(sorted(report.figures), sorted(again.figures), strict=True):
        if first.suffix == ".svg":
            assert first.read_bytes() == second.read_bytes(), first.name


def test_cli_report(run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    assert main(["report", str(run_dir), "--out", str(out)]) == 0
    assert (out / "report.html").is_file()
    assert "report.html" in capsys.readouterr().out


@pytest.mark.parametrize("make", ["missing", "empty"])
def test_cli_report_bad_folder(tmp_path: Path, make: str, capsys: pytest.CaptureFixture[str]):
    target = tmp_path / "nothing"
    if make == "empty":
        target.mkdir()
    assert main(["report", str(target)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("cwmb: error:") and len(err.splitlines()) == 1
    assert not (target / "report").exists()


def test_manifest_with_preset_settings(tmp_path: Path) -> None:
    """`cwmb bench` writes the preset with its settings and isolation per stage."""
    root = synth.make_results(tmp_path / "run")
    manifest = json.loads((root / "manifest.json").read_text())
    manifest["preset"] = {"name": synth.PRESET, "episodes": 3, "mcts": {"simulations": 25}}
    manifest["isolation"] = {"jobs": "process", "final_scoring": "process"}
    (root / "manifest.json").write_text(json.dumps(manifest))
    run = load_run(root)
    assert run.preset == synth.PRESET
    facts = dict(build_document(run, [], []).facts)
    assert facts["Planner preset"] == f"{synth.PRESET} (episodes 3, mcts (simulations 25))"
    assert facts["Isolation"] == "jobs process, final_scoring process"


def test_real_gif_mcts_trace(scripted_llm, tmp_path: Path) -> None:
    """The loader understands the trace the GIF-MCTS runner really writes (event names, fields):
    a search driven by the scripted LLM, with marker programs and the instant fake evaluator."""
    from methods_helpers import KindScript, fenced, make_task, marker_program

    from cwmb.llm.client import LlmClient
    from runners.gif_mcts.search import GifMcts

    scores = iter([0.2, 0.5, 0.4, 0.7, 0.6, 0.3, 0.8, 0.1])

    def answer(messages: object) -> str:
        score = next(scores)
        return fenced(marker_program(score, raises=score == 0.4, tag=str(score)))

    job = tmp_path / "run" / "gif-mcts" / "CartPole-v1" / "seed0"
    job.mkdir(parents=True)
    scripted_llm.script(KindScript(generate=answer, improve=answer, fix=answer))
    with LlmClient("openai/scripted", base_url=scripted_llm.base_url) as client:
        task = make_task("CartPole-v1", client, 8, trace_path=job / "trace.jsonl")
        search = GifMcts(task)
        search.run()
        task.trace.close()
    (job / "score.json").write_text(json.dumps(synth.score("gif-mcts", "CartPole-v1", 0)))

    run = load_run(tmp_path / "run")
    assert run.warnings == ["manifest.json is missing: run settings are unknown"]
    expanded = search.nodes[1:]
    assert run.nodes["id"].tolist() == [n.id for n in expanded]
    assert run.nodes["action"].tolist() == [n.action for n in expanded]
    assert run.nodes["depth"].tolist() == [n.depth for n in expanded]
    assert run.nodes["buggy"].tolist() == [n.buggy for n in expanded]
    # One evaluation per expansion, each after its own LLM call.
    assert run.evaluations["llm_calls"].tolist() == list(range(1, 9))
    assert run.evaluations["accuracy"].tolist() == [n.evaluation.accuracy for n in expanded]


def test_a_run_where_no_program_could_be_planned_with_still_reports(tmp_path: Path) -> None:
    """Every job's planning is missing (e.g. every program failed to load): no return figure,
    but the rest of the report is built."""
    root = synth.make_results(tmp_path / "run", summary=False)
    for path in root.glob("*/*/seed*/score.json"):
        score = json.loads(path.read_text())
        score["planning"] = None
        path.write_text(json.dumps(score))
    out = build_report(root)
    html = (root / "report" / "report.html").read_text()
    assert out and "Accuracy per environment" in html
    assert not (root / "report" / "figures" / "return_per_env.png").exists()
