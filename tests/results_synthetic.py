"""A synthetic results folder in the binding format (2 methods x 3 environments x 2 seeds) for the
report tests: one failed job, one finished job without a trace, one trace with a damaged line,
evaluation events between LLM records, and GIF-MCTS node and tree events."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np

from cwmb.bench.results import SUMMARY_COLUMNS, summary_row

METHODS = ["gif-mcts", "worldcoder"]
ENVS = {"CartPole-v1": "discrete", "Taxi-v4": "discrete", "Pusher-v5": "continuous"}
SEEDS = [0, 1]
BUDGET = 6
PRESET = "synthetic"  # no env.toml has it: baselines come from the jobs' score.json
FAILED = ("worldcoder", "Pusher-v5", 1)
NO_TRACE = ("worldcoder", "CartPole-v1", 1)
DAMAGED_TRACE = ("gif-mcts", "Taxi-v4", 0)
BASELINES = {
    "CartPole-v1": (20.0, 480.0),
    "Taxi-v4": (-750.0, -200.0),
    "Pusher-v5": (-150.0, -30.0),
}


def accuracies(method: str, env: str, seed: int) -> list[float]:
    """The train accuracy of each evaluated program, one per LLM call, in order."""
    rng = np.random.default_rng(_key(method, env, seed))
    top = 0.95 if method == "gif-mcts" else 0.8
    values = np.clip(rng.uniform(0.0, top, size=BUDGET), 0.0, 1.0)
    return [round(float(v), 4) for v in values]


def _key(method: str, env: str, seed: int) -> int:
    return sum(ord(c) for c in method + env) * 10 + seed


def _split(accuracy: float) -> dict[str, Any]:
    return {
        "accuracy": accuracy,
        "paper_accuracy": round(accuracy * 0.7, 4),
        "state_accuracy": accuracy,
        "reward_accuracy": min(1.0, accuracy + 0.05),
        "done_accuracy": 1.0,
        "solved": accuracy >= 1.0,
        "n_transitions": 500,
        "n_errors": 0,
        "error": None,
        "first_mismatch": None,
    }


def score(method: str, env: str, seed: int) -> dict[str, Any]:
    kind = ENVS[env]
    base = {
        "method": method,
        "env": env,
        "kind": kind,
        "seed": seed,
        "budget": BUDGET,
        "llm_calls": BUDGET,
        "tokens_in": 1000 * BUDGET,
        "tokens_out": 300 * BUDGET,
        "timings": {"job_s": 12.0, "llm_s": 8.0, "scoring_s": 1.5, "planning_s": 2.5},
    }
    if (method, env, seed) == FAILED:
        return base | {
            "status": "failed",
            "error": "SandboxError: the job's container exited with code 137 (out of memory)",
            "splits": None,
            "planning": None,
        }
    best = max(accuracies(method, env, seed))
    random, oracle = BASELINES[env]
    normalized = round(best - 0.1 * seed, 4)
    mean = random + normalized * (oracle - random)
    return base | {
        "status": "ok",
        "error": None,
        "splits": {"train": _split(best), "heldout": _split(round(best * 0.9, 4))},
        "planning": {
            "preset": PRESET,
            "episodes": 3,
            "returns": [mean - 1.0, mean, mean + 1.0],
            "mean": mean,
            "std": 0.8165,
            "random": random,
            "oracle": oracle,
            # Taxi's R is undefined for one job to exercise the N/A path.
            "normalized_return": None
            if (env, seed, method) == ("Taxi-v4", 1, "gif-mcts")
            else normalized,
        },
    }


def trace_lines(method: str, env: str, seed: int) -> list[str]:
    records: list[dict[str, Any]] = [{"event": "job", "method": method, "env": env, "seed": seed}]
    actions = ["generate", "generate", "improve", "fix", "generate", "improve"]
    parents = [0, 1, 2, 3, 1, 5]
    depth = {0: 0}
    for i, accuracy in enumerate(accuracies(method, env, seed)):
        records.append(
            {
                "event": "llm",
                "call": i,
                "purpose": actions[i],
                "messages": [{"role": "user", "content": "x" * 200}],
                "response": "```python\nclass Environment: ...\n```",
            }
        )
        records.append(
            {
                "event": "evaluation",
                "program_id": f"{i:016x}",
                "cached": False,
                "accuracy": accuracy,
                "state_accuracy": accuracy,
                "reward_accuracy": accuracy,
                "done_accuracy": 1.0,
                "solved": False,
                "n_errors": 3 if actions[i] == "improve" and i == 2 else 0,
                "error": None,
                "first_mismatch": None,
            }
        )
        if method == "gif-mcts":
            node_id = i + 1
            depth[node_id] = depth[parents[i]] + 1
            records.append(
                {
                    "event": "node",
                    "id": node_id,
                    "parent": parents[i],
                    "action": actions[i],
                    "depth": depth[node_id],
                    "value": accuracy,
                    "visits": 1,
                    "accuracy": accuracy,
                    "buggy": i == 2,
                    "terminal": False,
                }
            )
    if method == "gif-mcts":
        records.append({"event": "tree", "n_nodes": BUDGET, "nodes": []})
    records.append({"event": "result", "status": "ok", "error": None, "calls": BUDGET})
    lines = [
        json.dumps({"seq": seq, "event": r["event"], "t": 0.1 * seq} | r)
        for seq, r in enumerate(records)
    ]
    if (method, env, seed) == DAMAGED_TRACE:
        lines.insert(3, '{"seq": 99, "event": "evaluation", "accur')  # a torn write
    return lines


def make_results(root: Path, summary: bool = True, descriptions: str | None = None) -> Path:
    """Write the synthetic run into `root` (created) and return it; `descriptions`: the tier its
    manifest and score.json files name (None: none, like runs from before tiers existed)."""
    root.mkdir(parents=True, exist_ok=True)
    manifest = {
        "run_id": root.name,
        "created": "2026-01-01T00:00:00Z",
        "git_commit": "0" * 40,
        "versions": {"python": "3.11"},
        "image_digest": None,
        "isolation": "process",
        "model": "local/gemma-3-270m",
        "model_base_url": None,
        "preset": PRESET,
        "seeds": SEEDS,
        "budget": BUDGET,
        "methods": METHODS,
        "envs": list(ENVS),
        "quick": True,
        "cache_mode": "read-write",
        "notes": ["synthetic results for the report tests"],
    }
    if descriptions is not None:
        manifest["descriptions"] = descriptions
    (root / "manifest.json").write_text(json.dumps(manifest, indent=2))
    rows = []
    for method in METHODS:
        for env in ENVS:
            for seed in SEEDS:
                job = root / method / env / f"seed{seed}"
                job.mkdir(parents=True, exist_ok=True)
                result = score(method, env, seed)
                if descriptions is not None:
                    result["descriptions"] = descriptions
                (job / "score.json").write_text(json.dumps(result, indent=2))
                (job / "program.py").write_text("class Environment:\n    pass\n")
                (job / "log.txt").write_text("synthetic\n")
                if (method, env, seed) != NO_TRACE:
                    (job / "trace.jsonl").write_text(
                        "\n".join(trace_lines(method, env, seed)) + "\n"
                    )
                rows.append(summary_row(result))
    if summary:
        with (root / "summary.csv").open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=SUMMARY_COLUMNS)
            writer.writeheader()
            writer.writerows(rows)
    return root
