"""The report's tables, built from a loaded run (and the paper's numbers where they match).

Averages follow the paper's Table 2: for each seed, the mean over the environments of a kind;
then mean ± sample std of those per-seed means. Values that do not exist are left out, never
counted as 0: a normalized return whose denominator is ~0 (the paper's "N/A") and jobs that failed
before being scored (listed in the failed-jobs table)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from analysis import paper
from analysis.load import UNFINISHED, Run
from analysis.table import MISSING, Table, count, finite, mean_std, number, returns
from cwmb import registry
from cwmb.bench.results import STATUS_NOT_LOADED
from cwmb.errors import CwmbError

KINDS = ("discrete", "continuous")
RENAMED_MARK = "†"
EXCLUSION_NOTE = (
    "Mean ± std over seeds (sample std; a single seed shows the mean only). Jobs that failed "
    "before being scored, and undefined normalized returns (random and oracle returns equal), "
    "are left out rather than counted as 0."
)


PAPER_MODE_NOTE = (
    "Paper-mode accuracy is the accuracy as the paper's authors computed it (see "
    "DESIGN.md, Metrics). It differs from ours on purpose: the reward counts only when it equals "
    "the float32-stored reward exactly, so on continuous environments no reward is ever credited "
    "and even a perfect program scores about 2/3 there; a truncation by the environment's time "
    "limit counts as done; a program that raises anywhere scores 0; nothing is masked."
)
DETAILED_NOTE = (
    "This run gave methods the detailed descriptions (equations, constants, model parameters), "
    "an easier task than the paper's: no paper numbers are set beside it."
)


def env_order(envs: list[str]) -> list[str]:
    """Environments in the benchmark's canonical order (discrete first), unknown ones last."""
    order = {env: i for i, env in enumerate(registry.CANONICAL_ORDER)}
    return sorted(envs, key=lambda env: (order.get(env, len(order)), env))


def envs_of_kind(run: Run, kind: str) -> list[str]:
    kinds = dict(zip(run.jobs["env"], run.jobs["kind"], strict=True))
    return [env for env in env_order(run.envs) if kinds.get(env) == kind]


def env_label(env: str) -> str:
    """An env id, marked when the paper used another version of it."""
    return env + RENAMED_MARK if env in paper.ENV_RENAMES.values() else env


def rename_note(envs: list[str]) -> list[str]:
    renamed = paper.renamed_envs(envs)
    return [f"{RENAMED_MARK} {paper.RENAME_FOOTNOTE}"] if renamed else []


def paper_methods(run: Run) -> list[str]:
    """Methods of this run that the paper also reports."""
    return [m for m in run.methods if m in paper.METHODS.values()]


# -- per-seed averages ---------------------------------------------------------------------------


def seed_means(jobs: pd.DataFrame, metric: str, kind: str) -> list[float]:
    """For each seed, the mean of `metric` over the environments of `kind` that have a value."""
    selected = jobs[jobs["kind"] == kind]
    means = selected.groupby("seed")[metric].mean()  # NaN-skipping
    return finite(means.tolist())


def summary_table(run: Run) -> Table:
    """Table 2 of the paper, for this run: accuracy and R per kind, one row per method; the paper's
    rows for the same methods follow."""
    columns = ["Method", "Budget", "Seeds", "Jobs scored"]
    for kind in KINDS:
        label = kind.capitalize()
        columns += [
            f"{label} accuracy",
            f"{label} held-out accuracy",
            f"{label} paper-mode accuracy",
            f"{label} held-out paper-mode accuracy",
            f"{label} R",
        ]
    rows = []
    for method in run.methods:
        jobs = run.jobs[run.jobs["method"] == method]
        scored = jobs["train_accuracy"].notna().sum()
        row = [
            run.method_label(method),
            _budget(jobs),
            str(jobs["seed"].nunique()),
            f"{scored}/{len(jobs)}",
        ]
        for kind in KINDS:
            for metric in (
                "train_accuracy",
                "heldout_accuracy",
                "train_paper_accuracy",
                "heldout_paper_accuracy",
                "normalized_return",
            ):
                row.append(mean_std(seed_means(jobs, metric, kind)))
        rows.append(row)
    matched = paper.table2()[paper.table2()["method"].isin(paper_methods(run))]
    if not run.compares_with_paper:
        matched = matched.iloc[0:0]
    for record in matched.to_dict("records"):
        row = [
            paper.series_label(record["method"], record["model"], record["budget"]),
            str(record["budget"]),
            str(record["seeds"]),
            MISSING,
        ]
        for kind in KINDS:
            # The paper's accuracy is the authors' metric: it goes in the paper-mode column.
            row += [
                MISSING,
                MISSING,
                _paper_value(record, f"{kind}_accuracy"),
                MISSING,
                _paper_value(record, f"{kind}_R"),
            ]
        rows.append(row)
    kinds_here = {kind: ", ".join(envs_of_kind(run, kind)) or "none" for kind in KINDS}
    notes = [
        "Accuracy is on the train split (the paper's setting); held-out accuracy is on transitions "
        "no method saw. R is the normalized return (R_cwm − R_random) / (R_oracle − R_random).",
        PAPER_MODE_NOTE,
        EXCLUSION_NOTE,
        f"Environments in this run: discrete: {kinds_here['discrete']}; continuous: "
        f"{kinds_here['continuous']}.",
    ]
    if not matched.empty:
        notes.append(
            "Paper rows: Table 2 of the paper (all 6 discrete and 12 continuous environments, "
            "its own LLM and budget; its ± as printed), in the paper-mode columns because they "
            "were computed with the authors' metric. They share that metric and the "
            "environments, not the model: compare settings before comparing numbers. Only "
            "standard-tier runs are compared with the paper (its prompts were the Gymnasium "
            "docstrings)."
        )
    if not run.compares_with_paper:
        notes.append(DETAILED_NOTE)
    return Table("summary", "CWMB averages (paper Table 2 format)", columns, rows, notes)


def _budget(jobs: pd.DataFrame) -> str:
    budgets = sorted({int(b) for b in finite(jobs["budget"].tolist())})
    return "/".join(str(b) for b in budgets) or MISSING


def _paper_value(record: dict[str, Any], name: str) -> str:
    value = number(record.get(name))
    err = finite([record.get(f"{name}_err")])
    return f"{value} ± {number(err[0])}" if value != MISSING and err else value


# -- per environment ---------------------------------------------------------------------------


def per_env_table(run: Run, method: str) -> Table:
    """Paper Tables 10/11 for one method: per environment, this run's numbers and the paper's."""
    jobs = run.jobs[run.jobs["method"] == method]
    paper_rows = paper.per_env()
    paper_rows = paper_rows[paper_rows["method"] == method]
    if not run.compares_with_paper:
        paper_rows = paper_rows.iloc[0:0]
    series = paper_rows[["model", "budget"]].drop_duplicates().to_records(index=False).tolist()
    columns = [
        "Environment",
        "Kind",
        "Seeds scored",
        "Accuracy",
        "Held-out accuracy",
        "Paper-mode accuracy",
        "Solved (train)",
        "R",
        "Return",
    ]
    for model, budget in series:
        columns += [f"Paper accuracy ({model}, B={budget})", f"Paper R ({model}, B={budget})"]
    rows = []
    envs = env_order(run.envs)
    for env in envs:
        env_jobs = jobs[jobs["env"] == env]
        if env_jobs.empty:
            continue
        solved = env_jobs["train_solved"].dropna()
        row = [
            env_label(env),
            str(env_jobs["kind"].iloc[0]),
            f"{env_jobs['train_accuracy'].notna().sum()}/{len(env_jobs)}",
            mean_std(env_jobs["train_accuracy"]),
            mean_std(env_jobs["heldout_accuracy"]),
            mean_std(env_jobs["train_paper_accuracy"]),
            f"{int(solved.sum())}/{len(solved)}" if len(solved) else MISSING,
            mean_std(env_jobs["normalized_return"]),
            _returns_mean_std(env_jobs["return_mean"]),
        ]
        for model, budget in series:
            match = paper_rows[
                (paper_rows["env"] == env)
                & (paper_rows["model"] == model)
                & (paper_rows["budget"] == budget)
            ]
            record = match.iloc[0] if not match.empty else None
            row += [
                number(None if record is None else record["accuracy"]),
                number(None if record is None else record["R"]),
            ]
        rows.append(row)
    notes = [EXCLUSION_NOTE, "Return: the planner's mean episode return with the program."]
    if series:
        notes.append(
            "Paper columns: Table 10 (Llama 3 70B, budget 50, first seed) and Table 11 "
            "(GPT-4 Turbo, budget 10) of the paper; – where it printed N/A. Its accuracy is "
            "the authors' metric: compare it with the paper-mode column."
        )
    notes.append(PAPER_MODE_NOTE)
    notes += rename_note(envs)
    title = f"Per-environment results: {run.method_label(method)}"
    return Table(f"per_env_{method}", title, columns, rows, notes)


def _returns_mean_std(values: pd.Series) -> str:
    numbers = finite(values.tolist())
    if len(numbers) < 2:
        return returns(numbers[0] if numbers else None)
    return f"{returns(pd.Series(numbers).mean())} ± {returns(pd.Series(numbers).std())}"


def comparison_table(run: Run, metric: str, title: str, key: str) -> Table:
    """One column per method: `metric` per environment, mean ± std over seeds."""
    envs = env_order(run.envs)
    rows = []
    for env in envs:
        row = [env_label(env)]
        for method in run.methods:
            jobs = run.jobs[(run.jobs["method"] == method) & (run.jobs["env"] == env)]
            row.append(mean_std(jobs[metric]) if not jobs.empty else MISSING)
        rows.append(row)
    return Table(
        key,
        title,
        ["Environment", *map(run.method_label, run.methods)],
        rows,
        [EXCLUSION_NOTE, *rename_note(envs)],
    )


# -- baselines (paper Table 12) -------------------------------------------------------------------


def baselines_table(run: Run) -> Table:
    """Random and oracle returns of this project's planner preset beside the paper's, with the
    methods' returns."""
    preset = run.preset
    raw = paper.raw_returns()
    paper_series = [
        (column, method, model)
        for column, (method, model) in paper.RETURN_COLUMNS.items()
        if method in run.methods and run.compares_with_paper  # baselines need no description
    ]
    columns = ["Environment", "Preset", "Random", "Oracle", "Baselines from"]
    columns += [f"Return of {method}" for method in run.methods]
    columns += ["Paper random", "Paper oracle"]
    columns += [
        f"Paper {paper.PAPER_NAMES.get(method, method)} ({model})"
        for _, method, model in paper_series
    ]
    rows = []
    envs = env_order(run.envs)
    for env in envs:
        random, oracle = our_baselines(run, env, preset)
        row = [env_label(env), preset or MISSING, returns(random), returns(oracle)]
        row.append(baseline_source(env, preset))
        for method in run.methods:
            jobs = run.jobs[(run.jobs["method"] == method) & (run.jobs["env"] == env)]
            row.append(_returns_mean_std(jobs["return_mean"]))
        known = env in raw.index
        row += [
            returns(raw.at[env, "random"] if known else None),
            returns(raw.at[env, "oracle"] if known else None),
        ]
        row += [returns(raw.at[env, column] if known else None) for column, _, _ in paper_series]
        rows.append(row)
    where = f"under [baselines.{preset}]" if preset else "(the run's preset is unknown)"
    notes = [
        f"Random and oracle: mean returns stored in each env.toml {where} (the same planner on "
        "the true environment for the oracle), or, where missing there, the values the jobs "
        "were normalized with. 'Baselines from' says whether they were computed here or are the "
        "paper's published values (Table 12), used where the paper preset costs hours here.",
        "Paper columns: Table 12 of the paper (10 episodes, its planner settings and Gymnasium "
        "0.29.1). A different preset or episode cap changes raw returns; the normalized return "
        "is the comparable number.",
        *rename_note(envs),
    ]
    return Table(
        "baselines", "Raw returns beside the paper's (paper Table 12)", columns, rows, notes
    )


def baseline_source(env: str, preset: str | None) -> str:
    """ "computed here", "published, Table 12" (where the paper preset costs too many hours on
    this machine) or "the jobs" (no stored baselines)."""
    try:
        source = registry.get(env).baseline_source(preset) if preset else None
    except CwmbError:
        source = None
    return source or "the jobs"


def our_baselines(run: Run, env: str, preset: str | None) -> tuple[float | None, float | None]:
    """(random, oracle) for `env` at `preset` from the registry, else from the jobs' score.json."""
    random = oracle = None
    if preset:
        try:
            spec = registry.get(env)
        except CwmbError:
            spec = None
        if spec is not None:
            random, oracle = spec.baseline(preset, "random"), spec.baseline(preset, "oracle")
    jobs = run.jobs[run.jobs["env"] == env]
    if random is None:
        random = _first(jobs["random_return"])
    if oracle is None:
        oracle = _first(jobs["oracle_return"])
    return random, oracle


def _first(values: pd.Series) -> float | None:
    numbers = finite(values.tolist())
    return numbers[0] if numbers else None


# -- tree search, cost, failures ----------------------------------------------------------------


def tree_table(run: Run) -> Table | None:
    """Per method and environment: expanded nodes by action type, buggy nodes and depth, mean
    over seeds (None when no trace has tree-node events)."""
    nodes = run.nodes
    if nodes.empty:
        return None
    per_job = (
        nodes.groupby(["method", "env", "seed"])
        .agg(
            nodes=("action", "size"),
            generate=("action", lambda a: int((a == "generate").sum())),
            improve=("action", lambda a: int((a == "improve").sum())),
            fix=("action", lambda a: int((a == "fix").sum())),
            buggy=("buggy", "sum"),
            max_depth=("depth", "max"),
            mean_depth=("depth", "mean"),
        )
        .reset_index()
    )
    columns = [
        "Method",
        "Environment",
        "Seeds",
        "Nodes",
        "Generate",
        "Improve",
        "Fix",
        "Buggy",
        "Max depth",
        "Mean depth",
    ]
    rows = []
    envs = env_order(sorted(per_job["env"].unique()))
    for method in run.methods:
        for env in envs:
            group = per_job[(per_job["method"] == method) & (per_job["env"] == env)]
            if group.empty:
                continue
            row = [method, env_label(env), str(len(group))]
            for name in ("nodes", "generate", "improve", "fix", "buggy", "max_depth"):
                row.append(count(group[name].mean()))
            row.append(number(group["mean_depth"].mean(), 1))
            rows.append(row)
    return Table(
        "tree_stats",
        "Tree search: expanded nodes by action (GIF-MCTS; the method's own log)",
        columns,
        rows,
        [
            "From the traces' node events, which the method writes itself and the host does not "
            "check; means over seeds. Buggy: the node's program raised. "
            "Depth counts edges from the root (a first program has depth 1).",
            *rename_note(envs),
        ],
    )


def cost_table(run: Run) -> Table:
    """LLM calls, tokens and where each method's time went, summed over its jobs."""
    columns = [
        "Method",
        "Jobs",
        "LLM calls / job",
        "Tokens in",
        "Tokens out",
        "Job time (s)",
        "LLM (s)",
        "Scoring (s)",
        "Planning (s)",
    ]
    rows = []
    for method in run.methods:
        jobs = run.jobs[run.jobs["method"] == method]
        rows.append(
            [
                method,
                str(len(jobs)),
                number(jobs["llm_calls"].mean(), 1),
                count(jobs["tokens_in"].sum(min_count=1)),
                count(jobs["tokens_out"].sum(min_count=1)),
                number(jobs["job_s"].sum(min_count=1), 1),
                number(jobs["llm_s"].sum(min_count=1), 1),
                number(jobs["scoring_s"].sum(min_count=1), 1),
                number(jobs["planning_s"].sum(min_count=1), 1),
            ]
        )
    return Table(
        "cost",
        "LLM use and time",
        columns,
        rows,
        ["Times are sums over the method's jobs (seconds); LLM calls are the mean per job."],
    )


def failures_table(run: Run) -> Table | None:
    bad = run.jobs[run.jobs["status"] != "ok"]
    if bad.empty:
        return None
    rows = [
        [
            str(job["method"]),
            str(job["env"]),
            str(job["seed"]),
            str(job["status"]),
            _first_line(job["error"]),
        ]
        for job in bad.to_dict("records")
    ]
    unfinished = int((bad["status"] == UNFINISHED).sum())
    not_loaded = int((bad["status"] == STATUS_NOT_LOADED).sum())
    notes = ["Failed jobs are recorded with their error; `cwmb bench --retry-failed` reruns them."]
    if not_loaded:
        notes.append(
            f"{not_loaded} job(s) ended with a program that did not load ({STATUS_NOT_LOADED}): "
            "it predicted nothing and scores 0."
        )
    if unfinished:
        notes.append(
            f"{unfinished} job(s) have no score.json yet: the bench is running or stopped."
        )
    return Table(
        "failed_jobs",
        "Jobs that failed or whose program did not load",
        ["Method", "Environment", "Seed", "Status", "Error"],
        rows,
        notes,
    )


def _first_line(error: object, limit: int = 160) -> str:
    if not isinstance(error, str) or not error.strip():
        return MISSING
    line = error.strip().splitlines()[-1] if "Traceback" in error else error.strip().splitlines()[0]
    return line if len(line) <= limit else line[: limit - 1] + "…"


def paper_summary_table() -> Table:
    """The paper's Table 2 in full, for reference."""
    rows = []
    for record in paper.table2().to_dict("records"):
        row = [
            str(record["model"]),
            str(record["paper_method"]),
            str(record["budget"]),
            str(record["seeds"]),
        ]
        for kind in KINDS:
            row += [_paper_value(record, f"{kind}_accuracy"), _paper_value(record, f"{kind}_R")]
        rows.append(row)
    return Table(
        "paper_table2",
        "The paper's Table 2 (for reference)",
        [
            "Model",
            "Method",
            "Budget",
            "Seeds",
            "Discrete accuracy",
            "Discrete R",
            "Continuous accuracy",
            "Continuous R",
        ],
        rows,
        [f"Source: {paper.CITATION}; analysis/paper/table2_cwmb.csv."],
    )


def all_tables(run: Run) -> list[Table]:
    """Every table of the report, in reading order."""
    tables: list[Table | None] = [summary_table(run)]
    tables += [per_env_table(run, method) for method in run.methods]
    if len(run.methods) > 1:
        tables.append(
            comparison_table(run, "train_accuracy", "Accuracy by method", "accuracy_by_method")
        )
        tables.append(
            comparison_table(
                run, "normalized_return", "Normalized return by method", "return_by_method"
            )
        )
    tables += [baselines_table(run), tree_table(run), cost_table(run), failures_table(run)]
    tables.append(paper_summary_table())
    return [t for t in tables if t is not None]
