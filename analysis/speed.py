"""The report's table of `cwmb speed` results (RUN/speed/<EnvId>.json) beside the paper's Table 8."""

from __future__ import annotations

from typing import Any

from analysis import paper
from analysis.load import Run
from analysis.table import MISSING, Table, finite, number
from analysis.tables import env_label, env_order

COLUMNS = [
    "Source",
    "Environment",
    "LLM per step",
    "CWM per step",
    "LLM / CWM",
    "CWM per one-step request",
    "CWM session start",
    "LLM accuracy",
    "Transitions",
]


def seconds(value: object) -> str:
    """A duration in the unit that keeps it readable (s, ms or µs)."""
    found = finite([value])
    if not found:
        return MISSING
    s = found[0]
    if s >= 1.0:
        return f"{s:.2f} s"
    if s >= 1e-3:
        return f"{s * 1e3:.2f} ms"
    return f"{s * 1e6:.1f} µs"


def ratio(value: object) -> str:
    found = finite([value])
    return f"{found[0]:.2g}" if found else MISSING


def _ours(result: dict[str, Any]) -> list[str]:
    llm, program = result["llm_timing"], result["program_timing"]
    found = result.get("machine")
    machine: dict[str, Any] = found if isinstance(found, dict) else {}
    load = finite([machine.get("load_average_1min")])
    where = f"{result.get('isolation', '?')} sandbox" + (
        f", machine load {load[0]:.1f} on {machine.get('cpus', '?')} CPUs" if load else ""
    )
    return [
        f"this run: {result.get('model', '?')} ({where})",
        env_label(str(result.get("env"))),
        seconds(llm["per_step_s"]),
        seconds(program["per_step_s"]),
        ratio(llm["per_step_s"] / program["per_step_s"]),
        seconds(program["per_request_s"]),
        seconds(program["session_start_s"]),
        number(result["llm_accuracy"]["accuracy"], 3),
        str(result.get("transitions", MISSING)),
    ]


def speed_table(run: Run) -> Table | None:
    """One row per speed result and, where the paper measured the environment, its Table 8 row."""
    if not run.speed:
        return None
    published = paper.table8()
    by_env = {str(r.get("env")): r for r in run.speed}
    rows = []
    for env in env_order(list(by_env)):
        rows.append(_ours(by_env[env]))
        if env in published.index:
            llm_s = float(published.loc[env, "llm_seconds_per_step"])
            cwm_s = float(published.loc[env, "cwm_seconds_per_step"])
            rows.append(
                [f"paper ({paper.TABLE8_MODEL})", env_label(env), seconds(llm_s), seconds(cwm_s)]
                + [ratio(llm_s / cwm_s), MISSING, MISSING, MISSING, MISSING]
            )
    notes = [
        "From `cwmb speed --env ENV --out RUN/speed/ENV.json`: the LLM predicts each transition "
        "from the description and a few train transitions (median seconds per call, through the "
        "gateway with the cache off); the CWM's step is timed inside an open sandbox session, "
        "per step of a many-step request (as the authors timed step() in-process) and per "
        "one-step request (with the sandbox round trip). Timings depend on the machine and its "
        "load, recorded in each JSON file.",
        f"Paper rows: {paper.CITATION}, Table 8 (analysis/paper/table8_speed.csv).",
    ]
    return Table("speed", "CWM step against LLM prediction (paper Table 8)", COLUMNS, rows, notes)
