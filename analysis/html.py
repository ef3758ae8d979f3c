"""report.html: the document as one self-contained page (styles inline, figures embedded as
base64 PNG, no scripts, no external URLs) that opens from a file anywhere."""

from __future__ import annotations

import base64
from html import escape

from analysis.document import Document, Section
from analysis.figures import SavedFigure
from analysis.table import Table

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0;
       color: #1d2433; background: #fafbfc; line-height: 1.45; }
main { max-width: 1200px; margin: 0 auto; padding: 24px 32px 64px; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; }
h2 { margin-top: 2em; border-bottom: 2px solid #d8dee9; padding-bottom: 4px; }
h3 { margin-top: 1.6em; font-size: 1.08em; }
nav { margin: 12px 0 20px; }
nav a { margin-right: 14px; color: #2e5aac; text-decoration: none; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 2px 16px;
           font-size: 0.92em; background: #fff; border: 1px solid #e1e5ec; padding: 12px 16px; }
dl.facts dt { font-weight: 600; color: #4c566a; }
dl.facts dd { margin: 0; word-break: break-all; }
.alert { background: #fff6e0; border-left: 4px solid #e0a100; padding: 8px 12px; margin: 8px 0;
         font-size: 0.92em; }
.table-wrap { overflow-x: auto; }
table { border-collapse: collapse; font-size: 0.86em; background: #fff; margin: 6px 0; }
th, td { border: 1px solid #e1e5ec; padding: 4px 8px; white-space: nowrap; }
th { background: #eef1f6; text-align: left; white-space: normal; vertical-align: bottom; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.paper td { color: #5e6779; font-style: italic; background: #f7f8fa; }
.notes { font-size: 0.82em; color: #4c566a; margin: 4px 0 0; }
.notes p { margin: 2px 0; }
figure { margin: 12px 0 24px; background: #fff; border: 1px solid #e1e5ec; padding: 10px; }
figure img { max-width: 100%; height: auto; display: block; }
figure.wide .scroll { overflow-x: auto; }
figure.wide img { max-width: none; }
figcaption { font-size: 0.85em; color: #4c566a; margin-top: 6px; }
"""


def render(document: Document) -> str:
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(document.title)}</title>",
        f"<style>{CSS}</style>",
        "</head>",
        "<body>",
        "<main>",
        f"<h1>{escape(document.title)}</h1>",
        _nav(document.sections),
        _facts(document.facts),
        *(f'<div class="alert">{escape(a)}</div>' for a in document.alerts),
        *(_section(s) for s in document.sections),
        "</main>",
        "</body>",
        "</html>",
    ]
    return "\n".join(parts) + "\n"


def _nav(sections: list[Section]) -> str:
    links = "".join(f'<a href="#{escape(s.key)}">{escape(s.title)}</a>' for s in sections)
    return f"<nav>{links}</nav>"


def _facts(facts: list[tuple[str, str]]) -> str:
    rows = "".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in facts)
    return f'<dl class="facts">{rows}</dl>'


def _section(section: Section) -> str:
    parts = [f'<section id="{escape(section.key)}">', f"<h2>{escape(section.title)}</h2>"]
    parts += [f"<p>{escape(text)}</p>" for text in section.text]
    for item in section.items:
        parts.append(table(item) if isinstance(item, Table) else figure(item))
    parts.append("</section>")
    return "\n".join(parts)


def table(t: Table) -> str:
    numeric = t.numeric
    head = "".join(f"<th>{escape(c)}</th>" for c in t.columns)
    body = []
    for row in t.rows:
        cells = "".join(
            f'<td class="num">{escape(c)}</td>' if right else f"<td>{escape(c)}</td>"
            for c, right in zip(row, numeric, strict=True)
        )
        marker = ' class="paper"' if row[0].startswith("paper ") else ""
        body.append(f"<tr{marker}>{cells}</tr>")
    notes = "".join(f"<p>{escape(n)}</p>" for n in t.notes)
    caption = f"<p>{escape(t.caption)}</p>" if t.caption else ""
    return (
        f'<div class="report-table" id="table-{escape(t.key)}">'
        f"<h3>{escape(t.title)}</h3>{caption}"
        f'<div class="table-wrap"><table><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></div>"
        + (f'<div class="notes">{notes}</div>' if notes else "")
        + "</div>"
    )


def figure(f: SavedFigure) -> str:
    data = base64.b64encode(f.png.read_bytes()).decode("ascii")
    image = f'<img alt="{escape(f.title)}" src="data:image/png;base64,{data}">'
    if f.wide:  # shown at full size, scrolled sideways, so that its labels stay legible
        image = f'<div class="scroll">{image}</div>'
    wide = ' class="wide"' if f.wide else ""
    return (
        f'<figure id="figure-{escape(f.key)}"{wide}>'
        f"<h3>{escape(f.title)}</h3>{image}"
        f"<figcaption>{escape(f.caption)} SVG: figures/{escape(f.svg.name)} next to this page."
        "</figcaption></figure>"
    )
