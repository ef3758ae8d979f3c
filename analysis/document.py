"""The report's content, independent of its output format: the run's facts, then sections holding
text, tables and figures. `markdown.py` and `html.py` render it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from analysis import paper
from analysis.figures import SavedFigure
from analysis.load import Run
from analysis.table import Table

EMBEDDED_MODEL_PREFIX = "local/"
EMBEDDED_MODEL_NOTE = (
    "This run used the embedded default model, a small base model that shows the pipeline works "
    "on any machine. Its numbers say nothing about what code world models can do: use a real "
    "model for results."
)
HOW_TO_READ = (
    "Accuracy is the share of recorded transitions a program predicts right (next state, reward "
    "and done; see DESIGN.md), on the train split a method could test against and on a held-out "
    "split it never saw. R, the normalized return, is (R_cwm − R_random) / (R_oracle − R_random): "
    "0 is no better than acting at random, 1 is as good as the same planner using the true "
    "environment. Numbers beside ours marked “paper” are the seed paper's published results: same "
    "environments, but the paper's LLM, budget and planner settings. The paper's accuracy is the "
    "authors' metric, so it stands beside our paper-mode accuracy, that same metric computed on "
    "this run's programs (see the notes under the summary table for how the two metrics differ)."
)


@dataclass
class Section:
    key: str
    title: str
    text: list[str] = field(default_factory=list)
    items: list[Table | SavedFigure] = field(default_factory=list)


@dataclass
class Document:
    title: str
    facts: list[tuple[str, str]]
    alerts: list[str]  # shown prominently (embedded model, weak isolation, warnings)
    sections: list[Section]


def run_facts(run: Run) -> list[tuple[str, str]]:
    """The run's settings from its manifest, as (label, value) text pairs."""
    m = run.manifest
    jobs = run.jobs
    status = jobs["status"].value_counts().to_dict()
    facts = [
        ("Run", run.run_id),
        ("Created", _text(m.get("created"))),
        ("Model", _text(m.get("model"))),
        ("Model endpoint", _text(m.get("model_base_url"))),
        ("Methods", ", ".join(map(run.method_label, run.methods))),
        ("Method options", _method_options_text(m.get("method_options"))),
        ("Environments", ", ".join(run.envs)),
        ("Seeds", _text(m.get("seeds"), ", ".join(str(s) for s in sorted(jobs["seed"].unique())))),
        ("LLM budget per job", _text(m.get("budget"))),
        ("Planner preset", _preset_text(run)),
        ("Descriptions", run.descriptions),
        ("Jobs", ", ".join(f"{n} {s}" for s, n in sorted(status.items()))),
        ("Isolation", _text(m.get("isolation"))),
        ("Declared capabilities", _text(m.get("capabilities"), "none")),
        ("LLM cache", _text(m.get("cache_mode"))),
        ("Quick subset", _text(m.get("quick"))),
        ("Git commit", _text(m.get("git_commit"))),
        ("Image digest", _text(m.get("image_digest"))),
    ]
    versions = m.get("versions")
    if isinstance(versions, dict) and versions:
        facts.append(("Versions", ", ".join(f"{k} {v}" for k, v in versions.items())))
    return facts


def alerts(run: Run) -> list[str]:
    notes = run.manifest.get("notes")
    found = [str(n) for n in notes] if isinstance(notes, list) else []
    model = str(run.manifest.get("model") or "")
    # The bench usually says so itself; say it only if its notes do not name the model.
    if model.startswith(EMBEDDED_MODEL_PREFIX) and not any(
        model.removeprefix(EMBEDDED_MODEL_PREFIX) in n for n in found
    ):
        found.insert(0, EMBEDDED_MODEL_NOTE)
    return found + _capability_alerts(run) + run.warnings


def _capability_alerts(run: Run) -> list[str]:
    """One line per method that saw more than the description, interface and train split."""
    declared = run.manifest.get("capabilities")
    if not isinstance(declared, dict):
        return []
    return [
        f"{method} declares the capabilities {_text(names)}: its results are not comparable with "
        "those of methods that see only the description, the interface and the train split"
        for method, names in declared.items()
        if names
    ]


def _method_options_text(options: Any) -> str:
    """Every option of every method that has options (the manifest's `method_options`)."""
    if not isinstance(options, dict):
        return _text(None)
    return _text({method: values for method, values in options.items() if values})


def _preset_text(run: Run) -> str:
    preset = run.manifest.get("preset")
    if isinstance(preset, dict):
        settings = {k: v for k, v in preset.items() if k != "name"}
        return f"{run.preset} ({_text(settings)})" if settings else _text(run.preset)
    return _text(run.preset)


def _text(value: Any, default: str = "–") -> str:
    """Plain text for a manifest value (lists and mappings flattened)."""
    if value is None or value == "" or value == [] or value == {}:
        return default
    if isinstance(value, list):
        return ", ".join(_text(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(
            f"{k} ({_text(v)})" if isinstance(v, dict) else f"{k} {_text(v)}"
            for k, v in value.items()
        )
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def tier_text(run: Run) -> str:
    if run.compares_with_paper:
        return (
            "Methods got the standard descriptions: what each environment's Gymnasium docstring "
            "says, as in the paper's prompts. Only standard-tier runs are compared with the paper."
        )
    return (
        f"Methods got the {run.descriptions} descriptions, which add the simulator's equations, "
        "constants and model parameters: an easier task than the paper's, so this report sets "
        "none of the paper's numbers beside it."
    )


def build_document(run: Run, tables: list[Table], figures: list[SavedFigure]) -> Document:
    """Arrange tables (by key) and figures into the report's sections."""
    by_key: dict[str, Table | SavedFigure] = {t.key: t for t in tables}
    by_key |= {f.key: f for f in figures}
    if len(by_key) != len(tables) + len(figures):
        raise ValueError("tables and figures need distinct keys")

    def pick(*keys: str) -> list[Table | SavedFigure]:
        return [by_key[k] for k in keys if k in by_key]

    per_env = [t for t in tables if t.key.startswith("per_env_")]
    sections = [
        Section("summary", "Summary", [HOW_TO_READ, tier_text(run)], pick("summary")),
        Section(
            "per-env-figures",
            "Per environment",
            [],
            pick(
                "accuracy_per_env",
                "paper_mode_accuracy_per_env",
                "return_per_env",
                "heldout_accuracy_per_env",
            ),
        ),
        Section(
            "per-env-tables",
            "Per-environment tables",
            [],
            [*per_env, *pick("accuracy_by_method", "return_by_method")],
        ),
        Section("search", "Search", [], pick("accuracy_vs_calls", "tree_actions", "tree_stats")),
        Section("baselines", "Returns and baselines", [], pick("baselines")),
        Section("cost", "Cost", [], pick("cost")),
        Section("failures", "Failed jobs", [], pick("failed_jobs")),
        Section(
            "paper",
            "The paper's numbers",
            [
                f"Source: {paper.CITATION}. The published tables are kept as CSV in "
                "analysis/paper/ (see its README); Tables 2, 10, 11 and 12 are drawn beside this "
                "run's numbers above where method and environment match.",
                paper.RENAME_FOOTNOTE,
            ],
            pick("paper_table2") if run.compares_with_paper else [],
        ),
    ]
    title = f"CWMB report: {run.run_id}"
    return Document(title, run_facts(run), alerts(run), [s for s in sections if s.items])
