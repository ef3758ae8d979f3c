"""`cwmb report RUN_DIR`: tables, figures and one HTML page from a results folder; given a
folder of run folders (as `make ablation` writes), one table that sets the runs side by side."""

from __future__ import annotations

import argparse
import importlib
import time
from pathlib import Path
from typing import Any

from cwmb.errors import CwmbError


def build_report(run_dir: Path, out: Path | None = None) -> Any:
    """Write the report of the results folder `run_dir` (see analysis.report.build_report).

    The analysis package sits on top of cwmb (it reads results folders and plots), so it is
    imported here, when a report is asked for, and never by the library itself."""
    return importlib.import_module("analysis.report").build_report(run_dir, out)


def report(args: argparse.Namespace) -> int:
    run_dir: Path = args.run_dir
    # Fail on a bad folder before paying for the plotting stack's import.
    if not run_dir.exists():
        raise CwmbError(f"results folder {run_dir} does not exist")
    if not run_dir.is_dir():
        raise CwmbError(
            f"{run_dir} is not a folder (give a results folder such as results/<run-id>)"
        )
    started = time.monotonic()
    files = build_report(run_dir, args.out)
    for warning in files.warnings:
        print(f"warning: {warning}")
    print(
        f"report: {files.html}\n"
        f"        {files.markdown}  ({len(files.tables)} tables, "
        f"{len(files.figures) // 2} figures as PNG and SVG in {files.folder / 'figures'})\n"
        f"        done in {time.monotonic() - started:.1f}s"
    )
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "report", help="tables, figures and an HTML report from a results folder"
    )
    parser.add_argument(
        "run_dir",
        type=Path,
        metavar="RUN_DIR",
        help="a results/<run-id> folder, or a folder of runs to compare (an ablation)",
    )
    parser.add_argument(
        "--out", type=Path, default=None, help="where to write the report (default RUN_DIR/report)"
    )
    parser.set_defaults(handler=report)
