"""Planner presets. `paper` is the published setting; `default` fits a 2-core machine.

Each preset names the planner settings for both planner kinds and the number of evaluation
episodes. Baselines (random and oracle returns) are stored per preset, because the normalized return
only makes sense when the code world model is planned with exactly as the oracle was."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from cwmb.errors import CwmbError
from cwmb.planning.mcts import MCTSConfig


@dataclass(frozen=True)
class CEMConfig:
    horizon: int = 100
    iterations: int = 20
    samples: int = 1000
    elites: int = 100


@dataclass(frozen=True)
class Preset:
    name: str
    episodes: int
    mcts: MCTSConfig = field(default_factory=MCTSConfig)
    cem: CEMConfig = field(default_factory=CEMConfig)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


PRESETS: dict[str, Preset] = {
    "paper": Preset("paper", episodes=10, mcts=MCTSConfig(), cem=CEMConfig()),
    # Same search shape, shorter rollouts and lighter CEM: what a 2-core machine can afford for
    # every environment inside one bench.
    "default": Preset(
        "default",
        episodes=10,
        mcts=MCTSConfig(simulations=25, rollout_depth=25),
        cem=CEMConfig(horizon=20, iterations=5, samples=100, elites=10),
    ),
}
DEFAULT_PRESET = "default"


def get_preset(name: str) -> Preset:
    try:
        return PRESETS[name]
    except KeyError:
        raise CwmbError(f"unknown planner preset {name!r}; known: {', '.join(PRESETS)}") from None
