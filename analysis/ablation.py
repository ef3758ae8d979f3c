"""The ablation report: several runs that differ in their method options, side by side, beside
the paper's Table 6.

Each variant of an ablation is its own run (its options are part of the run id), so an ablation is
a folder holding run folders, as `make ablation` writes it (`results/ablation/<run-id>/`).
`cwmb report FOLDER` on such a folder writes FOLDER/report/ with one row per (run, method): the
method with its non-default options, then the same averages as the summary table, and for
gif-mcts variants that Table 6 lists (full, no_generate, no_improve, no_fix) the paper's numbers
on the same row."""

from __future__ import annotations

from pathlib import Path

from analysis import paper
from analysis.document import Document, Section
from analysis.load import Run, load_run
from analysis.table import MISSING, Table, mean_std
from analysis.tables import EXCLUSION_NOTE, KINDS, PAPER_MODE_NOTE, seed_means

ABLATION_KEY = "ablation"


def run_folders(parent: Path) -> list[Path]:
    """The run folders directly inside `parent` (those with a manifest.json), oldest first."""
    if not parent.is_dir():
        return []
    found = [p for p in parent.iterdir() if p.is_dir() and (p / "manifest.json").is_file()]
    return sorted(found, key=lambda p: ((p / "manifest.json").stat().st_mtime, p.name))


def is_ablation_folder(path: Path) -> bool:
    """A folder of runs rather than a run: run folders inside, no jobs or summary of its own."""
    own = (path / "summary.csv").is_file() or (path / "manifest.json").is_file()
    return not own and bool(run_folders(path))


def _paper_cell(variant: str | None, column: str) -> str:
    if variant is None:
        return MISSING
    record = paper.table6().loc[variant]
    return f"{record[column]:.2f} ± {record[f'{column}_err']:.2f}"


def ablation_table(runs: list[Run]) -> Table:
    columns = ["Variant", "Run", "Seeds", "Jobs scored"]
    for kind in KINDS:
        label = kind.capitalize()
        columns += [f"{label} accuracy", f"{label} paper-mode accuracy", f"{label} R"]
    columns += [f"Paper {kind} {name}" for kind in KINDS for name in ("accuracy", "R")]
    rows = []
    for run in runs:
        changed = run.manifest.get("method_options_changed") or {}
        for method in run.methods:
            jobs = run.jobs[run.jobs["method"] == method]
            variant = paper.ablation_variant(method, dict(changed.get(method) or {}))
            if not run.compares_with_paper:
                variant = None
            label = run.method_label(method)
            row = [
                label if variant is None else f"{label} [{variant}]",
                run.run_id,
                str(jobs["seed"].nunique()),
                f"{jobs['train_accuracy'].notna().sum()}/{len(jobs)}",
            ]
            for kind in KINDS:
                for metric in ("train_accuracy", "train_paper_accuracy", "normalized_return"):
                    row.append(mean_std(seed_means(jobs, metric, kind)))
            row += [
                _paper_cell(variant, f"{kind}_{name}")
                for kind in KINDS
                for name in ("accuracy", "R")
            ]
            rows.append(row)
    notes = [
        "One row per run and method; the method's options that differ from its defaults are in "
        "brackets. Accuracy is on the train split, R the normalized return.",
        f"Paper columns: Table 6 of the paper ({paper.ABLATION_SETTING}; its ± as printed), on "
        "the rows whose gif-mcts options make that variant: full (no option changed), "
        "no_generate (allow_generate=false), no_improve (allow_improve=false), no_fix "
        "(max_fixes=0). Its accuracy is the authors' metric: compare it with paper-mode accuracy. "
        "Only standard-tier runs are compared with the paper.",
        PAPER_MODE_NOTE,
        EXCLUSION_NOTE,
    ]
    return Table(ABLATION_KEY, "Ablation (paper Table 6 format)", columns, rows, notes)


def paper_table6() -> Table:
    rows = [
        [variant, *(_paper_cell(variant, f"{k}_{n}") for k in KINDS for n in ("accuracy", "R"))]
        for variant in paper.table6().index
    ]
    columns = ["Variant", *(f"{k.capitalize()} {n}" for k in KINDS for n in ("accuracy", "R"))]
    notes = [f"Source: {paper.CITATION}; analysis/paper/table6_ablation.csv."]
    return Table("paper_table6", "The paper's Table 6 (for reference)", columns, rows, notes)


def ablation_document(parent: Path, runs: list[Run]) -> Document:
    facts = [
        ("Folder", str(parent)),
        ("Runs", ", ".join(run.run_id for run in runs)),
        ("Models", ", ".join(sorted({str(r.manifest.get("model") or MISSING) for r in runs}))),
        ("Budgets", ", ".join(sorted({str(r.manifest.get("budget") or MISSING) for r in runs}))),
    ]
    alerts = [f"{run.run_id}: {w}" for run in runs for w in run.warnings]
    if any(str(r.manifest.get("model") or "").startswith("local/") for r in runs):
        alerts.insert(
            0,
            "These runs used the embedded default model, a small base model: the table shows "
            "that the ablation runs, not what the variants achieve with a real model.",
        )
    text = ["Each run's own report (its per-environment tables and figures) is in <run>/report/."]
    sections = [
        Section("ablation", "Ablation", text, [ablation_table(runs)]),
        Section("paper", "The paper's numbers", [], [paper_table6()]),
    ]
    return Document(f"CWMB ablation: {parent.name}", facts, alerts, sections)


def load_runs(parent: Path) -> list[Run]:
    return [load_run(path) for path in run_folders(parent)]
