"""GIF-MCTS: Monte Carlo tree search over programs with generate, improve and fix actions
(Dainese et al., "Generating Code World Models with Large Language Models Guided by Monte Carlo
Tree Search", NeurIPS 2024). The rules are listed in search.py."""

from __future__ import annotations

from cwmb.runner import Task
from runners.gif_mcts.search import Config, GifMcts

__all__ = ["Config", "GifMcts", "run"]


def run(task: Task) -> str:
    return GifMcts(task).run()
