"""One figure per tree-search job: its whole tree, drawn from the trace (`Run.trees`).

Nodes sit at their depth (root on top); each leaf gets a column of its own and a parent is
centred over its children, so no two nodes overlap however the search branched. A node's shape
is the action that made it (generate, improve, fix), its fill its final value, its size its
visits; buggy programs get a red outline with a cross, terminal (complete) programs a thick black
ring; the edges from the root to the best node are drawn wide in orange."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

import matplotlib
import pandas as pd
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from analysis.figures import SELF_REPORTED, STYLE, SavedFigure, save
from analysis.load import Run
from analysis.tables import env_order

TREE_FIGURE_PREFIX = "tree_job_"  # the report's keys of these figures
MARKERS = {"root": "*", "generate": "o", "improve": "s", "fix": "D"}
VALUE_MAP = "viridis"
BEST_COLOR = "#e8590c"
BUGGY_COLOR = "#c92a2a"
COLUMN_INCHES = 0.42  # horizontal room per leaf
LEVEL_INCHES = 0.75  # vertical room per depth level
MAX_WIDTH_INCHES = 60.0
MIN_SIZE, MAX_SIZE = 60.0, 260.0  # marker areas (points^2) for 1 visit and for the most visited


@dataclass(frozen=True)
class Layout:
    x: dict[float, float]  # node id -> column (leaves at 0, 1, 2, ...)
    y: dict[float, float]  # node id -> depth
    leaves: int
    depth: int


def layout(tree: pd.DataFrame) -> Layout:
    """Leaves in depth-first order one column apart; every parent centred over its children."""
    children: dict[float, list[float]] = {}
    ids = set(tree["id"])
    roots = []
    for node, parent in zip(tree["id"], tree["parent"], strict=True):
        if parent is None or parent != parent or parent not in ids:
            roots.append(node)
        else:
            children.setdefault(parent, []).append(node)
    x: dict[float, float] = {}
    y: dict[float, float] = {}
    next_leaf = 0.0
    for root in roots:
        # Iterative post-order: traces come from untrusted jobs and may be deep.
        stack: list[tuple[float, int, bool]] = [(root, 0, False)]
        while stack:
            node, depth, done = stack.pop()
            if node in y and not done:
                continue  # a node listed twice is drawn once
            y[node] = depth
            kids = [k for k in children.get(node, []) if k not in y or k in x]
            if done:
                placed = [x[k] for k in kids if k in x]
                if placed:
                    x[node] = (min(placed) + max(placed)) / 2
                else:
                    x[node], next_leaf = next_leaf, next_leaf + 1
                continue
            stack.append((node, depth, True))
            stack.extend((k, depth + 1, False) for k in reversed(kids))
    return Layout(x, y, int(next_leaf), int(max(y.values(), default=0)))


def _sizes(visits: pd.Series) -> pd.Series:
    counts = visits.fillna(1).clip(lower=1)
    top = max(float(counts.max()), 1.0)
    scale = (counts.map(math.log1p) / math.log1p(top)) if top > 1 else counts * 0
    return MIN_SIZE + (MAX_SIZE - MIN_SIZE) * scale


def job_tree_figure(tree: pd.DataFrame, title: str) -> Figure:
    """The tree of one job (rows of Run.trees for that job)."""
    places = layout(tree)
    width = min(MAX_WIDTH_INCHES, max(6.0, COLUMN_INCHES * places.leaves + 2.5))
    height = max(3.0, LEVEL_INCHES * (places.depth + 1) + 1.6)
    nodes = tree.assign(
        x=tree["id"].map(places.x), y=tree["id"].map(places.y), size=_sizes(tree["visits"])
    )
    norm = Normalize(0.0, 1.0)
    cmap = matplotlib.colormaps[VALUE_MAP]
    with matplotlib.rc_context(STYLE):
        fig = Figure(figsize=(width, height), layout="constrained")
        ax = fig.add_subplot()
        by_id = nodes.set_index("id")
        for row in nodes.itertuples():
            if row.parent not in by_id.index:
                continue
            parent = by_id.loc[row.parent]
            best = bool(row.best_path) and bool(parent["best_path"])
            ax.plot(
                [parent["x"], row.x],
                [parent["y"], row.y],
                color=BEST_COLOR if best else "#adb5bd",
                linewidth=3.2 if best else 0.9,
                zorder=2 if best else 1,
                solid_capstyle="round",
            )
        for action, marker in MARKERS.items():
            group = nodes[nodes["action"] == action]
            if group.empty:
                continue
            ax.scatter(
                group["x"],
                group["y"],
                s=group["size"],
                marker=marker,
                c=[cmap(norm(v)) for v in group["value"].fillna(0.0)],
                edgecolors=[
                    BUGGY_COLOR if b else ("black" if t else "#495057")
                    for b, t in zip(group["buggy"], group["terminal"], strict=True)
                ],
                linewidths=[
                    2.6 if t else (1.8 if b else 0.6)
                    for b, t in zip(group["buggy"], group["terminal"], strict=True)
                ],
                zorder=3,
            )
        buggy = nodes[nodes["buggy"]]
        ax.scatter(buggy["x"], buggy["y"], s=28, marker="x", color=BUGGY_COLOR, zorder=4)
        for row in nodes.itertuples():
            label = f"{int(row.id)}" if row.id == row.id else "?"
            ax.annotate(
                label,
                (row.x, row.y),
                xytext=(0, -11),
                textcoords="offset points",
                ha="center",
                va="top",
                fontsize=6.5,
                color="#343a40",
            )
        ax.set_ylim(places.depth + 0.7, -0.5)
        ax.set_xlim(-0.7, max(places.leaves - 1, 0) + 0.7)
        ax.set_xticks([])
        ax.set_ylabel("depth")
        ax.set_yticks(range(places.depth + 1))
        for side in ("top", "right", "bottom"):
            ax.spines[side].set_visible(False)
        ax.set_title(title)
        colorbar = fig.colorbar(ScalarMappable(norm, cmap), ax=ax, shrink=0.8, pad=0.01)
        colorbar.set_label("node value")
        ax.legend(
            handles=_legend(),
            loc="upper left",
            bbox_to_anchor=(1.08, 1.0),
            frameon=False,
            fontsize=7.5,
        )
    return fig


def _legend() -> list[Line2D]:
    def marker(
        label: str,
        shape: str,
        edge: str = "#495057",
        edge_width: float = 1.0,
        size: float = 8.0,
    ) -> Line2D:
        return Line2D(
            [],
            [],
            linestyle="",
            marker=shape,
            label=label,
            markerfacecolor="#dee2e6",
            markeredgecolor=edge,
            markeredgewidth=edge_width,
            markersize=size,
        )

    return [
        *(marker(action, shape) for action, shape in MARKERS.items()),
        marker("buggy", "o", edge=BUGGY_COLOR, edge_width=1.8),
        marker("terminal", "o", edge="black", edge_width=2.6),
        Line2D([], [], color=BEST_COLOR, linewidth=3.2, label="path to the best node"),
        marker("size: visits", "o", size=11.0),
    ]


def figure_key(method: str, env: str, seed: int) -> str:
    return TREE_FIGURE_PREFIX + re.sub(r"[^A-Za-z0-9]+", "_", f"{method}_{env}_seed{seed}").strip(
        "_"
    )


def tree_figures(run: Run, out_dir: Path) -> list[SavedFigure]:
    """One saved figure per job that has a tree, in the report's method and environment order."""
    trees = run.trees
    if trees.empty:
        return []
    saved = []
    envs = env_order(list(trees["env"].unique()))
    for method in [m for m in run.methods if m in set(trees["method"])]:
        for env in envs:
            for seed in sorted(
                trees[(trees["method"] == method) & (trees["env"] == env)]["seed"].unique()
            ):
                job = trees[
                    (trees["method"] == method) & (trees["env"] == env) & (trees["seed"] == seed)
                ]
                saved.append(_save_job(job, method, env, int(seed), out_dir))
    return saved


def _save_job(job: pd.DataFrame, method: str, env: str, seed: int, out_dir: Path) -> SavedFigure:
    expanded = int((job["action"] != "root").sum())
    best = job[job["best_path"]]
    title = f"{method} on {env}, seed {seed}: {expanded} expanded nodes"
    key = figure_key(method, env, seed)
    with matplotlib.rc_context(STYLE):  # saving reads the style too (SVG text stays text)
        png, svg = save(job_tree_figure(job, title), out_dir, key)
    final = bool(job["final"].all())
    caption = (
        f"The search tree of {method} on {env} (seed {seed}), from the trace's "
        + (
            "final tree record: values and visits as the search ended."
            if final
            else "node events only (the job ended before its final tree record): values are "
            "those at expansion and the best node is the most accurate one."
        )
        + " Shape: the action that made the node; fill: its value; size: its visits; red "
        "outline with a cross: the program raised; thick black ring: terminal (complete) program;"
        f" orange: the path from the root to the best node ({len(best) - 1} steps). "
        + SELF_REPORTED
    )
    title = f"Search tree: {method}, {env}, seed {seed} (the method's own log)"
    return SavedFigure(key, title, caption, png, svg, wide=True)
