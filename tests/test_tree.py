"""The per-job tree figure (analysis/tree.py): layout, best path, and a readable figure at a
budget of 50 from a synthetic GIF-MCTS trace."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from analysis.figures import DPI
from analysis.load import load_run
from analysis.report import build_report
from analysis.tree import COLUMN_INCHES, figure_key, layout, tree_figures

BUDGET = 50


def synthetic_tree(budget: int, seed: int = 0) -> tuple[list[dict[str, Any]], int]:
    """A GIF-MCTS-shaped tree: generate/improve below healthy nodes, one fix below buggy ones,
    terminal nodes without generate children; returns the nodes (root first) and the best id."""
    rng = np.random.default_rng(seed)
    nodes: list[dict[str, Any]] = [
        {"id": 0, "parent": None, "action": "root", "depth": 0, "value": 0.0, "visits": 1}
        | {"accuracy": None, "buggy": False, "terminal": False}
    ]
    for i in range(1, budget + 1):
        if i == 1:
            parent = nodes[0]
        else:
            open_bugs = [n for n in nodes if n["buggy"] and not n.get("fixed")]
            pool = open_bugs if open_bugs and rng.random() < 0.7 else nodes[1:]
            parent = pool[int(rng.integers(len(pool)))] if pool else nodes[0]
        if parent["buggy"]:
            action = "fix"
            parent["fixed"] = True
        elif parent["action"] == "root" or parent["terminal"]:
            action = "generate" if parent["action"] == "root" else "improve"
        else:
            action = "generate" if rng.random() < 0.6 else "improve"
        buggy = bool(rng.random() < 0.2)
        accuracy = 0.0 if buggy else round(float(rng.uniform(0.1, 0.95)), 4)
        nodes.append(
            {
                "id": i,
                "parent": parent["id"],
                "action": action,
                "depth": parent["depth"] + 1,
                "value": accuracy,
                "visits": int(rng.integers(1, 8)),
                "accuracy": accuracy,
                "buggy": buggy,
                "terminal": bool(not buggy and rng.random() < 0.15),
            }
        )
    for node in nodes:
        node.pop("fixed", None)
    best = max(nodes[1:], key=lambda n: n["accuracy"])["id"]
    return nodes, best


def write_run(root: Path, nodes: list[dict[str, Any]], best: int, final: bool = True) -> Path:
    """A results folder with one GIF-MCTS job whose trace holds the tree (or only node events)."""
    job = root / "gif-mcts" / "CartPole-v1" / "seed0"
    job.mkdir(parents=True)
    (root / "manifest.json").write_text(
        json.dumps({"run_id": root.name, "methods": ["gif-mcts"], "envs": ["CartPole-v1"]})
    )
    (job / "score.json").write_text(
        json.dumps({"method": "gif-mcts", "env": "CartPole-v1", "seed": 0, "status": "ok"})
    )
    records = [{"event": "node", **n, "value": 0.0} for n in nodes[1:]]  # values at expansion
    if final:
        records.append({"event": "tree", "best_node": best, "nodes": nodes})
    (job / "trace.jsonl").write_text("\n".join(json.dumps(r) for r in records) + "\n")
    return root


def test_layout_gives_every_node_its_own_place_and_centres_parents() -> None:
    nodes, _ = synthetic_tree(BUDGET)
    frame = pd.DataFrame(nodes)
    places = layout(frame)
    points = {(places.x[i], places.y[i]) for i in frame["id"]}
    assert len(points) == len(frame)  # no two nodes share a spot
    assert places.y == {n["id"]: n["depth"] for n in nodes}
    for node in nodes[1:]:  # nodes of one level are at least one column apart
        same_level = [places.x[m["id"]] for m in nodes if m["depth"] == node["depth"]]
        gaps = np.diff(sorted(same_level))
        assert gaps.size == 0 or gaps.min() >= 1.0
    for node in nodes:
        kids = [places.x[m["id"]] for m in nodes if m["parent"] == node["id"]]
        if kids:
            assert places.x[node["id"]] == pytest.approx((min(kids) + max(kids)) / 2)


def test_best_path_follows_parent_links_from_the_final_tree(tmp_path: Path) -> None:
    nodes, best = synthetic_tree(BUDGET)
    run = load_run(write_run(tmp_path / "run", nodes, best))
    tree = run.trees
    assert len(tree) == BUDGET + 1 and tree["final"].all()
    assert tree.set_index("id").loc[best, "value"] > 0  # final values, not those at expansion
    by_id = {n["id"]: n for n in nodes}
    path, node = set(), best
    while node is not None:
        path.add(node)
        node = by_id[node]["parent"]
    assert set(tree[tree["best_path"]]["id"]) == path
    assert len(run.nodes) == BUDGET  # the node events are still the expanded-node table


def test_without_a_tree_record_the_node_events_make_the_tree(tmp_path: Path) -> None:
    nodes, best = synthetic_tree(12)
    tree = load_run(write_run(tmp_path / "run", nodes, best, final=False)).trees
    assert len(tree) == 13 and not tree["final"].any()
    assert tree.iloc[0]["action"] == "root"
    assert tree[tree["best_path"]]["id"].max() == best  # the most accurate node, by accuracy


def test_a_50_node_tree_is_drawn_readably_as_png_and_svg(tmp_path: Path) -> None:
    nodes, best = synthetic_tree(BUDGET)
    run = load_run(write_run(tmp_path / "run", nodes, best))
    (figure,) = tree_figures(run, tmp_path / "figures")
    assert figure.key == figure_key("gif-mcts", "CartPole-v1", 0) and figure.wide
    places = layout(run.trees)
    with Image.open(figure.png) as image:
        width, height = image.size
    # At least COLUMN_INCHES per leaf: ~46 px at the report's DPI, room for a marker and its id.
    assert width >= places.leaves * COLUMN_INCHES * DPI
    assert height >= (places.depth + 1) * 0.7 * DPI
    pixels = np.asarray(Image.open(figure.png).convert("RGB")).astype(int)
    orange = np.abs(pixels - np.array([0xE8, 0x59, 0x0C])).sum(axis=2) <= 30
    assert orange.sum() > 200  # the best path is drawn
    svg = figure.svg.read_text()
    assert "<svg" in svg and all(f">{n['id']}<" in svg for n in nodes)  # every node labelled


def test_the_report_of_a_tree_search_run_shows_each_job_tree(tmp_path: Path) -> None:
    nodes, best = synthetic_tree(20)
    report = build_report(write_run(tmp_path / "run", nodes, best))
    key = figure_key("gif-mcts", "CartPole-v1", 0)
    html = report.html.read_text()
    assert f'id="figure-{key}" class="wide"' in html
    assert f"{key}.svg" in report.markdown.read_text()
    assert (report.folder / "figures" / f"{key}.png") in report.figures
