"""The seed paper's published numbers (analysis/paper/*.csv), in this project's names.

Dainese et al., NeurIPS 2024 (arXiv 2405.15383): Table 2 (CWMB averages), Tables 10 and 11
(per-environment accuracy and normalized return R), Table 12 (raw returns). The paper used
Gymnasium 0.29.1; Table 6 (GIF-MCTS ablations). Three of its environment ids differ from ours with the same observation and action
layout, and are renamed here (`ENV_RENAMES`). "N/A" becomes NaN."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pandas as pd

PAPER_DIR = Path(__file__).resolve().parent / "paper"
CITATION = (
    "Dainese, Merler, Alakuijala, Marttinen. Generating Code World Models with Large Language "
    "Models Guided by Monte Carlo Tree Search. NeurIPS 2024, arXiv 2405.15383"
)
# Paper id -> the id this project uses for the same environment.
ENV_RENAMES = {
    "Taxi-v3": "Taxi-v4",
    "CliffWalking-v0": "CliffWalking-v1",
    "Pusher-v4": "Pusher-v5",
}
# Paper method name -> runner name.
METHODS = {"GIF-MCTS": "gif-mcts", "WorldCoder": "worldcoder"}
# Table 12 return columns -> (runner name, the paper's model).
RETURN_COLUMNS = {
    "gif_mcts_llama3_70b": ("gif-mcts", "Llama 3 70B"),
    "gif_mcts_gpt4_turbo": ("gif-mcts", "GPT-4 Turbo"),
}
PAPER_NAMES = {runner: name for name, runner in METHODS.items()}
# Table 6 variant -> the gif-mcts options (those differing from the defaults) that run it.
ABLATIONS: dict[str, dict[str, bool | int]] = {
    "full": {},
    "no_generate": {"allow_generate": False},
    "no_improve": {"allow_improve": False},
    "no_fix": {"max_fixes": 0},
}
ABLATION_METHOD = "gif-mcts"
ABLATION_SETTING = "Llama 3 70B, budget 50, 1 seed"
RENAME_FOOTNOTE = (
    "The paper used Taxi-v3, CliffWalking-v0 and Pusher-v4 (Gymnasium 0.29.1); they are shown "
    "next to this project's Taxi-v4, CliffWalking-v1 and Pusher-v5, which keep the same "
    "observation and action layout."
)


def our_env(paper_env: str) -> str:
    return ENV_RENAMES.get(paper_env, paper_env)


def renamed_envs(envs: list[str]) -> list[str]:
    """The environments in `envs` whose paper id differs from ours."""
    ours = set(ENV_RENAMES.values())
    return [env for env in envs if env in ours]


def _read(name: str) -> pd.DataFrame:
    return pd.read_csv(PAPER_DIR / name, na_values=["N/A"], keep_default_na=False)


@cache
def table2() -> pd.DataFrame:
    """CWMB averages: model, method (runner name), budget, seeds and per kind accuracy / R with
    the paper's error columns."""
    frame = _read("table2_cwmb.csv")
    frame["paper_method"] = frame["method"]
    frame["method"] = frame["method"].map(lambda m: METHODS.get(m, m))
    return frame


@cache
def per_env() -> pd.DataFrame:
    """Tables 10 and 11 in long form: env (our id), paper_env, model, budget, method, accuracy, R."""
    frame = _read("table10_11_per_env.csv")
    rows = []
    for record in frame.to_dict("records"):
        for paper_method, method in METHODS.items():
            prefix = method.replace("-", "_")
            rows.append(
                {
                    "env": our_env(record["env"]),
                    "paper_env": record["env"],
                    "model": record["model"],
                    "budget": int(record["budget"]),
                    "method": method,
                    "paper_method": paper_method,
                    "accuracy": record[f"{prefix}_accuracy"],
                    "R": record[f"{prefix}_R"],
                }
            )
    return pd.DataFrame(rows)


@cache
def raw_returns() -> pd.DataFrame:
    """Table 12 indexed by our env id: random, cql, GIF-MCTS per model, oracle, paper_env."""
    frame = _read("table12_raw_returns.csv")
    frame["paper_env"] = frame["env"]
    frame["env"] = frame["env"].map(our_env)
    return frame.set_index("env")


@cache
def table6() -> pd.DataFrame:
    """GIF-MCTS ablations, indexed by variant (see ABLATIONS): per kind accuracy and R with the
    paper's error columns."""
    return _read("table6_ablation.csv").set_index("variant")


def ablation_variant(method: str, changed: dict[str, object]) -> str | None:
    """The Table 6 variant that `method` with these non-default options runs, if any."""
    if method != ABLATION_METHOD:
        return None
    return next((name for name, options in ABLATIONS.items() if options == changed), None)


def series_label(method: str, model: str, budget: int) -> str:
    """How a paper series is named in tables and legends (`method` is a runner name)."""
    return f"paper {PAPER_NAMES.get(method, method)} ({model}, B={budget})"
