"""A report table (title, header, text cells, footnotes), rendered as markdown, and the number
formats the tables share."""

from __future__ import annotations

import html
import math
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

MISSING = "–"


@dataclass
class Table:
    key: str  # file name stem, also the HTML anchor
    title: str
    columns: list[str]
    rows: list[list[str]]
    notes: list[str] = field(default_factory=list)
    caption: str = ""

    def __post_init__(self) -> None:
        for row in self.rows:
            if len(row) != len(self.columns):
                raise ValueError(f"table {self.key}: row {row} does not match {self.columns}")

    @property
    def numeric(self) -> list[bool]:
        """Columns whose cells all look numeric (right-aligned)."""
        return [
            bool(self.rows) and all(_looks_numeric(row[i]) for row in self.rows)
            for i in range(len(self.columns))
        ]

    def to_markdown(self, heading_level: int = 3) -> str:
        lines = [f"{'#' * heading_level} {self.title}", ""]
        if self.caption:
            lines += [self.caption, ""]
        lines.append("| " + " | ".join(_md(c) for c in self.columns) + " |")
        lines.append("|" + "|".join("---:" if right else "---" for right in self.numeric) + "|")
        lines += ["| " + " | ".join(_md(cell) for cell in row) + " |" for row in self.rows]
        if self.notes:
            lines.append("")
            lines += [f"{note}  " for note in self.notes]
        return "\n".join(lines) + "\n"


def _md(text: str) -> str:
    """A cell as inert markdown text: HTML a method put in a string is shown, never rendered."""
    return html.escape(text, quote=False).replace("|", "\\|").replace("\n", " ")


def _looks_numeric(cell: str) -> bool:
    head = cell.split(" ")[0].replace("−", "-").rstrip("*†")
    if cell == MISSING:
        return True
    try:
        float(head.split("/")[0])
    except ValueError:
        return False
    return True


def finite(values: Iterable[object]) -> list[float]:
    """The finite numbers among `values` (None, NaN and non-numbers dropped)."""
    found = []
    for value in values:
        if isinstance(value, bool) or value is None:
            continue
        try:
            number = float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            continue
        if math.isfinite(number):
            found.append(number)
    return found


def mean_std(values: Iterable[object], digits: int = 2) -> str:
    """`m ± s` over the finite values (sample std), just "m" for one value, MISSING for none."""
    numbers = finite(values)
    if not numbers:
        return MISSING
    mean = float(np.mean(numbers))
    if len(numbers) == 1:
        return number(mean, digits)
    return f"{number(mean, digits)} ± {number(float(np.std(numbers, ddof=1)), digits)}"


def number(value: object, digits: int = 2) -> str:
    numbers = finite([value])
    if not numbers:
        return MISSING
    text = f"{numbers[0]:.{digits}f}"
    return "0." + "0" * digits if text in ("-0." + "0" * digits, "-0") else text


def returns(value: object) -> str:
    """A raw return: one decimal (as the paper prints them)."""
    return number(value, 1)


def count(value: object) -> str:
    numbers = finite([value])
    if not numbers:
        return MISSING
    rounded = round(numbers[0], 1)
    return f"{rounded:.0f}" if rounded == int(rounded) else f"{rounded:.1f}"
