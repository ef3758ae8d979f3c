"""report.md: the document as markdown, figures linked by path relative to the report folder.

Every text is inert: HTML in it (which a method could have put in a name, an error or an option)
is shown, never rendered, exactly as in the tables (`analysis.table`)."""

from __future__ import annotations

import html
from pathlib import Path

from analysis.document import Document
from analysis.figures import SavedFigure
from analysis.table import Table


def _text(text: object) -> str:
    return html.escape(str(text), quote=False)


def render(document: Document, report_dir: Path) -> str:
    lines = [f"# {_text(document.title)}", ""]
    lines += [f"- **{_text(label)}:** {_text(value)}" for label, value in document.facts]
    lines.append("")
    for alert in document.alerts:
        lines += [f"> **Note:** {_text(alert)}", ""]
    for section in document.sections:
        lines += [f"## {_text(section.title)}", ""]
        for paragraph in section.text:
            lines += [_text(paragraph), ""]
        for item in section.items:
            if isinstance(item, Table):
                lines.append(item.to_markdown(heading_level=3))
            else:
                lines += _figure(item, report_dir)
    return "\n".join(lines).rstrip() + "\n"


def _figure(figure: SavedFigure, report_dir: Path) -> list[str]:
    png = figure.png.relative_to(report_dir).as_posix()
    svg = figure.svg.relative_to(report_dir).as_posix()
    title = _text(figure.title)
    return [
        f"### {title}",
        "",
        f"![{title}]({png})",
        "",
        f"{_text(figure.caption)} ([SVG]({svg}))",
        "",
    ]
