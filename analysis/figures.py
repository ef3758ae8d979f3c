"""The report's seaborn figures, saved as PNG and SVG.

Figures are drawn on `matplotlib.figure.Figure` objects with the Agg backend (no display, no
pyplot state shared between figures). SVG output is made reproducible (fixed id salt, no date)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from analysis import paper  # noqa: E402
from analysis.load import NODE_ACTIONS, Run  # noqa: E402
from analysis.tables import KINDS, env_label, env_order, envs_of_kind  # noqa: E402

DPI = 110
STYLE: dict[Any, Any] = {
    "svg.hashsalt": "cwmb-report",
    "svg.fonttype": "none",  # text stays text: smaller, faster, editable
    "axes.spines.top": False,
    "axes.spines.right": False,
    "font.size": 9,
}


@dataclass(frozen=True)
class SavedFigure:
    key: str
    title: str
    caption: str
    png: Path
    svg: Path
    wide: bool = False  # the page shows it at full size with a sideways scroll bar


def save(fig: Figure, out_dir: Path, key: str) -> tuple[Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    png, svg = out_dir / f"{key}.png", out_dir / f"{key}.svg"
    fig.savefig(png, dpi=DPI, metadata={"Software": None})
    fig.savefig(svg, metadata={"Date": None, "Creator": None})
    return png, svg


def _blend(color: tuple[float, float, float], white: float) -> tuple[float, float, float]:
    r, g, b = color
    return (r + (1 - r) * white, g + (1 - g) * white, b + (1 - b) * white)


@dataclass(frozen=True)
class Series:
    """How a bar series looks: our methods in strong colors; a paper series in a light tint of its
    method's color, hatched (one hatch per paper model)."""

    label: str
    color: tuple[float, float, float]
    hatch: str = ""


PAPER_HATCHES = ("///", "xxx", "...", "\\\\\\")


def method_colors(methods: list[str]) -> dict[str, tuple[float, float, float]]:
    """One color per method of the run, the same in every figure."""
    palette = sns.color_palette("colorblind", max(len(methods), 1))
    return {
        m: (float(r), float(g), float(b)) for m, (r, g, b) in zip(methods, palette, strict=False)
    }


def bar_series(
    methods: list[str],
    paper_series: list[tuple[str, str]],
    base: dict[str, tuple[float, float, float]],
) -> list[Series]:
    """The series to draw: each method followed by its paper series (`paper_series` holds
    (method, label) pairs); `base` gives each method's color."""
    found = []
    for method in methods:
        color = base.get(method, (0.5, 0.5, 0.5))
        found.append(Series(method, color))
        # The paper's bars for a method stand right next to the method's own.
        labels = [label for m, label in paper_series if m == method]
        for j, label in enumerate(labels):
            hatch = PAPER_HATCHES[j % len(PAPER_HATCHES)]
            found.append(Series(label, _blend(color, 0.45 + 0.2 * j), hatch))
    return found


def _hatch_bars(ax: Axes, series: list[Series]) -> None:
    """Hatch the paper's bars (found by their distinct face colors)."""
    hatched = [(np.array(s.color), s.hatch) for s in series if s.hatch]
    for patch in ax.patches:
        face = np.array(patch.get_facecolor()[:3])
        for color, hatch in hatched:
            if np.allclose(face, color, atol=2e-3):
                patch.set_hatch(hatch)
                patch.set_edgecolor("0.35")
                patch.set_linewidth(0.5)


def _legend_handles(series: list[Series]) -> list[Patch]:
    return [
        Patch(
            facecolor=s.color,
            hatch=s.hatch,
            edgecolor="0.35" if s.hatch else s.color,
            linewidth=0.5,
            label=s.label,
        )
        for s in series
    ]


# -- per-environment bars -----------------------------------------------------------------------


def per_env_frame(run: Run, metric: str, paper_column: str | None) -> pd.DataFrame:
    """Long form: env, series (method or paper series), value — one row per seed. The paper's
    series only for a run the paper can be compared with (standard descriptions)."""
    jobs = run.jobs[run.jobs[metric].notna()]
    frame = pd.DataFrame(
        {"env": jobs["env"], "series": jobs["method"], "value": jobs[metric].astype(float)}
    )
    if paper_column is None or not run.compares_with_paper:
        return frame
    published = paper.per_env()
    published = published[
        published["method"].isin(run.methods)
        & published["env"].isin(run.envs)
        & published[paper_column].notna()
    ]
    extra = pd.DataFrame(
        {
            "env": published["env"],
            "series": [
                paper.series_label(m, model, budget)
                for m, model, budget in zip(
                    published["method"], published["model"], published["budget"], strict=True
                )
            ],
            "value": published[paper_column].astype(float),
        }
    )
    return pd.concat([frame, extra], ignore_index=True)


def value_limits(values: pd.Series) -> tuple[float, float]:
    """A y range that always shows 0 to 1 (accuracy's range, and R's from random to oracle),
    widened with a margin for values outside it (a return below random or above the oracle)."""
    finite = values[np.isfinite(values)]
    low = float(min(0.0, finite.min())) if len(finite) else 0.0
    high = float(max(1.0, finite.max())) if len(finite) else 1.0
    margin = 0.05 * (high - low)
    return (low - margin if low < 0 else 0.0), high + margin


def per_env_figure(
    run: Run, out_dir: Path, metric: str, paper_column: str | None, key: str, ylabel: str
) -> SavedFigure | None:
    data = per_env_frame(run, metric, paper_column)
    kinds = [kind for kind in KINDS if envs_of_kind(run, kind)]
    if data.empty or not kinds:
        return None
    present = set(data["series"])
    methods = [m for m in run.methods if m in present]
    published = paper.per_env()[["method", "model", "budget"]].drop_duplicates()
    paper_series = [
        (m, label)
        for m in run.methods
        for model, budget in published[published["method"] == m][["model", "budget"]].itertuples(
            index=False
        )
        if (label := paper.series_label(m, model, budget)) in present
    ]
    series = bar_series(methods, paper_series, method_colors(run.methods))
    if not series:  # e.g. no program could be planned with: nothing to draw
        return None
    palette = {s.label: s.color for s in series}
    order = [s.label for s in series]
    widths = [max(len(envs_of_kind(run, kind)), 1) * (0.25 + 0.13 * len(series)) for kind in kinds]
    with matplotlib.rc_context(STYLE), sns.axes_style("whitegrid"):
        legend_width = 0.7 + 0.08 * max(len(s.label) for s in series)
        fig = Figure(
            figsize=(max(4.5, sum(widths) + 1.0) + legend_width, 3.8), layout="constrained"
        )
        axes = fig.subplots(1, len(kinds), sharey=True, width_ratios=widths, squeeze=False)[0]
        for ax, kind in zip(axes, kinds, strict=True):
            envs = envs_of_kind(run, kind)
            sns.barplot(
                data=data[data["env"].isin(envs)],
                x="env",
                y="value",
                hue="series",
                order=envs,
                hue_order=order,
                palette=palette,
                saturation=1.0,
                errorbar="sd",
                err_kws={"linewidth": 1.0},
                capsize=0.15,
                ax=ax,
                legend=False,
            )
            _hatch_bars(ax, series)
            ax.set_title(f"{kind} actions")
            ax.set_xlabel("")
            ax.set_ylabel(ylabel)
            ax.set_xticks(range(len(envs)), [env_label(e) for e in envs], rotation=30, ha="right")
            ax.axhline(0.0, color="0.3", linewidth=0.8)
        # Shared y axis: set once, so all-zero data keep the 0-1 scale instead of a 1e-17 one.
        axes[0].set_ylim(*value_limits(data["value"]))
        # Paper labels are long: the legend goes to the right, one entry per line.
        fig.legend(handles=_legend_handles(series), loc="outside right upper", frameon=False)
        png, svg = save(fig, out_dir, key)
    caption = "Bars: mean over seeds, whiskers ± sample std."
    if paper_series:
        caption += (
            " Hatched, lighter bars: the paper's published numbers (Tables 10 and 11) for the same "
            "method and environment, with the paper's LLM and budget; missing where it printed N/A."
        )
    if paper.renamed_envs(run.envs):
        caption += " † the paper used Taxi-v3 / CliffWalking-v0 / Pusher-v4."
    return SavedFigure(key, f"{ylabel} per environment", caption, png, svg)


# A job's trace is written by the method itself: what is drawn from it is its own account.
SELF_REPORTED = (
    "Drawn from the method's own log (trace.jsonl), which the host does not check; the accuracy, "
    "return and LLM-call figures in the tables are the host's."
)


# -- accuracy against LLM calls ------------------------------------------------------------------


def best_so_far(evaluations: pd.DataFrame) -> pd.DataFrame:
    """For each job and each number of LLM calls c, the best train accuracy among evaluations made
    with at most c calls spent (from the first evaluation on)."""
    rows = []
    for (method, env, seed), job in evaluations.groupby(["method", "env", "seed"], sort=False):
        job = job.dropna(subset=["best_accuracy"])
        if job.empty:
            continue
        by_calls = job.groupby("llm_calls")["best_accuracy"].max()
        last = int(by_calls.index.max())
        curve = by_calls.reindex(range(int(by_calls.index.min()), last + 1)).ffill()
        rows += [
            {"method": method, "env": env, "seed": seed, "llm_calls": c, "accuracy": float(a)}
            for c, a in curve.items()
        ]
    return pd.DataFrame(rows, columns=["method", "env", "seed", "llm_calls", "accuracy"])


def calls_figure(run: Run, out_dir: Path) -> SavedFigure | None:
    curves = best_so_far(run.evaluations)
    if curves.empty:
        return None
    envs = env_order(list(curves["env"].unique()))
    methods = [m for m in run.methods if m in set(curves["method"])]
    palette = method_colors(run.methods)
    ncols = min(len(envs), 6)
    nrows = math.ceil(len(envs) / ncols)
    with matplotlib.rc_context(STYLE), sns.axes_style("whitegrid"):
        fig = Figure(figsize=(2.4 * ncols + 0.6, 2.1 * nrows + 0.9), layout="constrained")
        axes = np.atleast_1d(fig.subplots(nrows, ncols, sharex=True, sharey=True, squeeze=False))
        flat = list(axes.flat)
        for ax, env in zip(flat, envs, strict=False):
            sns.lineplot(
                data=curves[curves["env"] == env],
                x="llm_calls",
                y="accuracy",
                hue="method",
                hue_order=methods,
                palette=palette,
                errorbar="sd",
                drawstyle="steps-post",
                err_kws={"step": "post"},
                ax=ax,
                legend=ax is flat[0],
            )
            ax.set_title(env_label(env))
            ax.set_ylim(-0.02, 1.05)
            ax.set_xlabel("LLM calls")
            ax.set_ylabel("best accuracy")
        for ax in flat[len(envs) :]:
            ax.set_visible(False)
        legend = flat[0].get_legend()
        if legend is not None:
            handles, labels = flat[0].get_legend_handles_labels()
            legend.remove()
            fig.legend(handles, labels, loc="outside lower center", ncols=len(labels))
        png, svg = save(fig, out_dir, "accuracy_vs_calls")
    caption = (
        "Best train accuracy found so far against LLM calls spent, from the traces' evaluation "
        "events; line: mean over seeds, band: ± sample std. Jobs without a trace are not drawn. "
        f"{SELF_REPORTED}"
    )
    return SavedFigure(
        "accuracy_vs_calls", "Accuracy against LLM calls (the method's own log)", caption, png, svg
    )


# -- tree-search actions -------------------------------------------------------------------------


def tree_figure(run: Run, out_dir: Path) -> SavedFigure | None:
    nodes = run.nodes[run.nodes["action"].isin(NODE_ACTIONS)]
    if nodes.empty:
        return None
    methods = [m for m in run.methods if m in set(nodes["method"])]
    counts = nodes.groupby(["method", "env", "seed", "action"]).size().rename("nodes").reset_index()
    # Jobs that never took an action still count it as 0.
    full = pd.MultiIndex.from_frame(counts[["method", "env", "seed"]].drop_duplicates()).to_frame(
        index=False
    )
    full = full.merge(pd.DataFrame({"action": list(NODE_ACTIONS)}), how="cross")
    counts = full.merge(counts, how="left").fillna({"nodes": 0})
    envs = env_order(list(nodes["env"].unique()))
    palette = dict(zip(NODE_ACTIONS, sns.color_palette("Set2", len(NODE_ACTIONS)), strict=True))
    actions = list(NODE_ACTIONS)
    width = max(8.0, 0.55 * len(envs) + 2.0)
    with matplotlib.rc_context(STYLE), sns.axes_style("whitegrid"):
        fig = Figure(figsize=(width, 6.0 * len(methods) + 0.4), layout="constrained")
        grid = fig.add_gridspec(2 * len(methods), 2)
        for row, method in enumerate(methods):
            top = fig.add_subplot(grid[2 * row, :])
            depth_ax = fig.add_subplot(grid[2 * row + 1, 0])
            value_ax = fig.add_subplot(grid[2 * row + 1, 1])
            own = nodes[nodes["method"] == method]
            sns.barplot(
                data=counts[counts["method"] == method],
                x="env",
                y="nodes",
                hue="action",
                order=envs,
                hue_order=actions,
                palette=palette,
                errorbar="sd",
                ax=top,
                legend=row == 0,
            )
            top.set_title(f"{method}: expanded nodes by action per job (mean over seeds)")
            top.set_ylabel("nodes per job")
            top.set_xlabel("")
            top.set_xticks(range(len(envs)), [env_label(e) for e in envs], rotation=30, ha="right")
            if top.get_legend() is not None:
                sns.move_legend(top, "upper left", bbox_to_anchor=(1.0, 1.0), title="action")
            sns.histplot(
                data=own,
                x="depth",
                hue="action",
                hue_order=actions,
                palette=palette,
                multiple="stack",
                discrete=True,
                shrink=0.8,
                ax=depth_ax,
                legend=False,
            )
            depth_ax.set_title("nodes by depth")
            depth_ax.set_xlabel("depth (root = 0)")
            depth_ax.set_ylabel("nodes")
            depth_ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            sns.barplot(
                data=own.dropna(subset=["accuracy"]),
                x="action",
                y="accuracy",
                hue="action",
                order=actions,
                hue_order=actions,
                palette=palette,
                errorbar="sd",
                ax=value_ax,
                legend=False,
            )
            value_ax.set_title("program accuracy by action")
            value_ax.set_xlabel("")
            value_ax.set_ylabel("train accuracy")
            value_ax.set_ylim(0.0, 1.05)
        png, svg = save(fig, out_dir, "tree_actions")
    caption = (
        "From the tree-node events of the traces: how many generate, improve and fix nodes each "
        "job expanded (mean ± std over seeds); how deep in the tree they are (all environments "
        "and seeds); and the train accuracy of the programs each action produced (mean ± std "
        f"over nodes). {SELF_REPORTED}"
    )
    return SavedFigure(
        "tree_actions", "Tree-search action statistics (the method's own log)", caption, png, svg
    )


def all_figures(run: Run, out_dir: Path) -> list[SavedFigure]:
    """Every figure the run's data allows, in reading order."""
    made = [
        per_env_figure(run, out_dir, "train_accuracy", None, "accuracy_per_env", "Accuracy"),
        # The paper's accuracy is the authors' metric: its bars stand beside paper mode.
        per_env_figure(
            run,
            out_dir,
            "train_paper_accuracy",
            "accuracy",
            "paper_mode_accuracy_per_env",
            "Paper-mode accuracy",
        ),
        per_env_figure(
            run, out_dir, "normalized_return", "R", "return_per_env", "Normalized return"
        ),
        per_env_figure(
            run, out_dir, "heldout_accuracy", None, "heldout_accuracy_per_env", "Held-out accuracy"
        ),
        calls_figure(run, out_dir),
        tree_figure(run, out_dir),
    ]
    return [f for f in made if f is not None]
