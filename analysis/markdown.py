"""report.md: the document as markdown, figures linked by path relative to the report folder."""

from __future__ import annotations

from pathlib import Path

from analysis.document import Document
from analysis.figures import SavedFigure
from analysis.table import Table


def render(document: Document, report_dir: Path) -> str:
    lines = [f"# {document.title}", ""]
    lines += [f"- **{label}:** {value}" for label, value in document.facts]
    lines.append("")
    for alert in document.alerts:
        lines += [f"> **Note:** {alert}", ""]
    for section in document.sections:
        lines += [f"## {section.title}", ""]
        for paragraph in section.text:
            lines += [paragraph, ""]
        for item in section.items:
            if isinstance(item, Table):
                lines.append(item.to_markdown(heading_level=3))
            else:
                lines += _figure(item, report_dir)
    return "\n".join(lines).rstrip() + "\n"


def _figure(figure: SavedFigure, report_dir: Path) -> list[str]:
    png = figure.png.relative_to(report_dir).as_posix()
    svg = figure.svg.relative_to(report_dir).as_posix()
    return [
        f"### {figure.title}",
        "",
        f"![{figure.title}]({png})",
        "",
        f"{figure.caption} ([SVG]({svg}))",
        "",
    ]
