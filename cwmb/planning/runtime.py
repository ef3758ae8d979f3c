"""Planning next to a program inside the sandbox: build the planner a request names and run it
with the program as the model. Runs on the untrusted side; only the chosen action leaves."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from cwmb.formats import to_runtime
from cwmb.planning.base import Planner, ProgramModel
from cwmb.planning.mcts import MCTSConfig, MCTSPlanner


def _build_mcts(request: dict[str, Any], action_format: dict[str, Any]) -> Planner:
    return MCTSPlanner(int(action_format["n"]), MCTSConfig(**request["config"]))


def _build_cem(request: dict[str, Any], action_format: dict[str, Any]) -> Planner:
    from cwmb.planning.cem import build_cem_planner

    return build_cem_planner(request, action_format)


# A planner request is {"name", "config" (the preset's settings), "episode_limit"}.
PLANNER_BUILDERS: dict[str, Callable[[dict[str, Any], dict[str, Any]], Planner]] = {
    "mcts": _build_mcts,
    "cem": _build_cem,
}


def plan_with_program(
    environment: Any,
    state: Any,
    obs_format: dict[str, Any],
    action_format: dict[str, Any],
    planner: dict[str, Any],
    seed: int,
) -> Any:
    """The planner's decision: one action, or for planners that plan open-loop (CEM) the whole
    action sequence, which the host then executes before asking again."""
    build = PLANNER_BUILDERS[planner["name"]]
    model = ProgramModel(environment, state, lambda value: to_runtime(value, obs_format))
    chosen = build(planner, action_format)
    rng = np.random.default_rng(seed)
    open_loop = getattr(chosen, "plan", None)
    return open_loop(model, rng) if open_loop is not None else chosen.act(model, rng)
