"""What a bench runs: the matrix, the model, the budget, the planner preset, the description tier,
and its run id.

The run id is derived from the settings, so running the same command again resumes the same
results folder; pass `--run-id` to choose another. The standard description tier adds nothing to
it (run ids from before there were tiers stay valid); the detailed tier adds `-detailed`. Method
options add to it only where they differ from the defaults (`-max_fixes=0`), so a run with every
option at its default keeps the id it had before options existed."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from cwmb import registry
from cwmb.errors import CwmbError
from cwmb.llm.client import Sampling
from cwmb.method_options import MethodOptions, describe_values
from cwmb.registry import DEFAULT_DESCRIPTION_TIER
from cwmb.runner import check_method, known_methods

# Environments of `QUICK=1`: two cheap discrete ones and the cheapest continuous one.
QUICK_ENVS = ["CliffWalking-v1", "CartPole-v1", "Pendulum-v1"]
JOB_TIMEOUT_S = 4 * 3600  # wall clock of one job (the method's search), by default
OUTPUT_QUOTA_BYTES = 1 << 30  # what one job may write into its output folder
# The paper's budget is 50 LLM calls; the embedded model needs far less to show the pipeline.
PAPER_BUDGET = 50
DEFAULT_LOCAL_BUDGET = 3
QUICK_BUDGET = 2


@dataclass(frozen=True)
class BenchConfig:
    methods: list[str]
    envs: list[str]
    seeds: int
    budget: int
    model: str
    model_base_url: str | None
    preset: str
    episodes: int | None  # planning episodes per job (None: the preset's)
    isolation: str
    cache: str
    jobs: int
    quick: bool
    descriptions: str = DEFAULT_DESCRIPTION_TIER
    planning_limit_s: float = 900.0  # wall clock for planning with one program
    retry_failed: bool = False
    notes: list[str] = field(default_factory=list)
    sampling: Sampling = field(default_factory=Sampling)
    job_timeout_s: float = JOB_TIMEOUT_S
    output_quota_bytes: int = OUTPUT_QUOTA_BYTES
    options: dict[str, MethodOptions] = field(default_factory=dict)  # per method

    def changed_options(self) -> dict[str, dict[str, Any]]:
        """Per method, the options set to other values than the defaults (methods without
        such options are left out)."""
        return {m: dict(o.changed) for m, o in self.options.items() if o.changed}

    def matrix(self) -> list[tuple[str, str, int]]:
        return [(m, e, s) for m in self.methods for e in self.envs for s in range(self.seeds)]

    def identity(self) -> dict[str, Any]:
        """The settings that define a run's results (not how fast or how safely it is run)."""
        data = asdict(self)
        for key in (
            "isolation",
            "cache",
            "jobs",
            "retry_failed",
            "notes",
            "planning_limit_s",
            "job_timeout_s",
            "output_quota_bytes",
        ):
            data.pop(key)
        if self.descriptions == DEFAULT_DESCRIPTION_TIER:
            data.pop("descriptions")
        if self.sampling == Sampling():
            # The paper's sampling, which runs made before the flags existed used: their ids stay.
            data.pop("sampling")
        data.pop("options")
        if self.changed_options():
            data["method_options"] = self.changed_options()
        return data

    def run_id(self) -> str:
        digest = hashlib.sha256(json.dumps(self.identity(), sort_keys=True).encode()).hexdigest()[
            :8
        ]
        method = self.methods[0] if len(self.methods) == 1 else f"{len(self.methods)}methods"
        model = re.sub(r"[^A-Za-z0-9.]+", "-", self.model.split("/", 1)[-1])
        tier = "" if self.descriptions == DEFAULT_DESCRIPTION_TIER else f"-{self.descriptions}"
        return (
            f"{method}-{model}-b{self.budget}{'-quick' if self.quick else ''}{tier}"
            f"{self._options_tag()}-{digest}"
        )

    def _options_tag(self) -> str:
        """`-key=value` for each changed option of a one-method run (the digest tells longer
        lists apart)."""
        changed = self.changed_options()
        if len(self.methods) != 1 or not changed:
            return ""
        tag = re.sub(r"[^A-Za-z0-9._=,-]+", "-", describe_values(changed[self.methods[0]]))
        return f"-{tag}" if len(tag) <= 48 else "-options"


def resolve_envs(names: list[str] | None, quick: bool) -> list[str]:
    if names:
        for name in names:
            registry.get(name)  # one clear error for an unknown id, before any work
        return names
    available = [e for e in registry.env_ids() if registry.get(e).datasets]
    if quick:
        return [e for e in QUICK_ENVS if e in available]
    return available


def resolve_methods(names: list[str]) -> list[str]:
    for name in names:
        check_method(name)  # a CwmbError listing the known methods; imports nothing
    if not names:
        raise CwmbError(f"give a method: one of {', '.join(known_methods())}")
    return names


def default_budget(model: str, quick: bool) -> int:
    if quick:
        return QUICK_BUDGET
    return DEFAULT_LOCAL_BUDGET if model.startswith("local/") else PAPER_BUDGET
