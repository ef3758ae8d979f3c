"""Build the report of a results folder: RUN/report/{report.html, report.md, jobs.csv,
tables/*.md, figures/*.png|svg}."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from analysis import html, markdown
from analysis.document import build_document
from analysis.figures import all_figures
from analysis.load import load_run
from analysis.speed import speed_table
from analysis.tables import all_tables
from analysis.tree import tree_figures
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
    speed = speed_table(run)
    if speed is not None:
        tables.append(speed)
    figures = all_figures(run, figures_dir) + tree_figures(run, figures_dir)
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
