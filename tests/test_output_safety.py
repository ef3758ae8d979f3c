"""Outputs are safe to open: summary.csv holds no spreadsheet formula and markdown tables render
a method's HTML as text."""

from __future__ import annotations

import csv

from analysis import markdown
from analysis.document import Document, Section
from analysis.table import Table
from cwmb.bench.results import RunFolder, write_json


def test_summary_csv_neutralises_formula_cells_but_keeps_numbers(tmp_path):
    folder = RunFolder(tmp_path)
    job = folder.job_dir("null", "CartPole-v1", 0)
    job.mkdir(parents=True)
    score = {
        "method": "null", "env": "CartPole-v1", "kind": "discrete", "seed": 0,
        "status": "failed", "error": '=HYPERLINK("http://evil","x")',
        "planning": {"mean": -12.5, "normalized_return": -0.25},
    }  # fmt: skip
    write_json(job / "score.json", score)
    folder.write_summary()
    (row,) = list(csv.DictReader(folder.summary_path.open()))
    assert row["error"] == "'" + score["error"]
    assert row["return_mean"] == "-12.5" and row["normalized_return"] == "-0.25"


def test_markdown_tables_escape_html():
    table = Table("t", "T", ["method"], [["<script>alert(1)</script>|x"]])
    text = table.to_markdown()
    assert "<script>" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;\\|x" in text


def test_markdown_text_outside_tables_escapes_html_too(tmp_path):
    evil = "<img src=x onerror=alert(1)>"
    document = Document(
        title=f"run {evil}",
        facts=[("Model", f"openai/{evil}")],
        alerts=[f"job failed: {evil}"],
        sections=[Section("s", f"Section {evil}", text=[f"paragraph {evil}"])],
    )
    text = markdown.render(document, tmp_path)
    assert "<img" not in text
    assert text.count("&lt;img src=x onerror=alert(1)&gt;") == 5
