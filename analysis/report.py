"""Build the report of a results folder: RUN/report/{report.html, report.md, jobs.csv,
tables/*.md, figures/*.png|svg}; or, for a folder of runs (an ablation, see analysis.ablation),
FOLDER/report/{report.html, report.md, tables/*.md}."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from analysis import ablation, html, markdown
from analysis.document import build_document
from analysis.figures import all_figures
from analysis.load import Run, load_run
from analysis.table import Table
from analysis.tables import all_tables
from cwmb.errors import CwmbError

REPORT_DIR = "report"


@dataclass(frozen=True)
class ReportFiles:
    folder: Path
    html: Path
    markdown: Path
    jobs_csv: Path
    tables: list[Path]
    figures: list[Path]
    warnings: list[str]


def build_report(run_dir: Path | str, out_dir: Path | str | None = None) -> ReportFiles:
    """Read the results folder `run_dir` and write its report into `out_dir`
    (default RUN_DIR/report)."""
    if ablation.is_ablation_folder(Path(run_dir)):
        return build_ablation_report(Path(run_dir), out_dir)
    run = load_run(run_dir)
    folder = Path(out_dir) if out_dir is not None else run.path / REPORT_DIR
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CwmbError(f"cannot create the report folder {folder}: {exc}") from exc
    figures_dir, tables_dir = folder / "figures", folder / "tables"
    _clear(figures_dir, (".png", ".svg"))
    _clear(tables_dir, (".md",))

    tables = all_tables(run)
    figures = all_figures(run, figures_dir)
    table_paths = []
    tables_dir.mkdir(parents=True, exist_ok=True)
    for table in tables:
        path = tables_dir / f"{table.key}.md"
        write_text(path, table.to_markdown(heading_level=1))
        table_paths.append(path)

    document = build_document(run, tables, figures)
    jobs_csv = folder / "jobs.csv"
    write_text(jobs_csv, run.jobs.to_csv(index=False))
    md_path = folder / "report.md"
    write_text(md_path, markdown.render(document, folder))
    html_path = folder / "report.html"
    write_text(html_path, html.render(document))
    return ReportFiles(
        folder=folder,
        html=html_path,
        markdown=md_path,
        jobs_csv=jobs_csv,
        tables=table_paths,
        figures=[p for f in figures for p in (f.png, f.svg)],
        warnings=list(run.warnings),
    )


def build_ablation_report(parent: Path, out_dir: Path | str | None = None) -> ReportFiles:
    """The report of a folder of runs: their variants side by side, beside the paper's Table 6."""
    runs = ablation.load_runs(parent)
    folder = Path(out_dir) if out_dir is not None else parent / REPORT_DIR
    tables_dir = folder / "tables"
    _clear(tables_dir, (".md",))
    document = ablation.ablation_document(parent, runs)
    tables = [item for s in document.sections for item in s.items if isinstance(item, Table)]
    table_paths = []
    for table in tables:
        path = tables_dir / f"{table.key}.md"
        write_text(path, table.to_markdown(heading_level=1))
        table_paths.append(path)
    jobs_csv = folder / "jobs.csv"
    write_text(jobs_csv, _jobs_of(runs))
    md_path = folder / "report.md"
    write_text(md_path, markdown.render(document, folder))
    html_path = folder / "report.html"
    write_text(html_path, html.render(document))
    warnings = [f"{run.run_id}: {w}" for run in runs for w in run.warnings]
    return ReportFiles(folder, html_path, md_path, jobs_csv, table_paths, [], warnings)


def _jobs_of(runs: list[Run]) -> str:
    """Every run's job table in one CSV, with a `run` column first."""
    frames = [run.jobs.assign(run=run.run_id) for run in runs]
    jobs = pd.concat(frames, ignore_index=True)
    return jobs[["run", *[c for c in jobs.columns if c != "run"]]].to_csv(index=False)


def _clear(folder: Path, suffixes: tuple[str, ...]) -> None:
    """Remove a previous report's files of these kinds (a figure may no longer apply)."""
    if folder.is_dir():
        for path in folder.iterdir():
            if path.is_file() and path.suffix in suffixes:
                path.unlink()


def write_text(path: Path, text: str) -> None:
    """Write `path` atomically (a temporary file in the same folder, then a rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="\n") as out:
            out.write(text)
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
