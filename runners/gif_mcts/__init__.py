"""GIF-MCTS: Monte Carlo tree search over programs with generate, improve and fix actions
(Dainese et al., "Generating Code World Models with Large Language Models Guided by Monte Carlo
Tree Search", NeurIPS 2024). The rules are listed in search.py.

Options (`--method-arg KEY=VALUE`) switch the paper's Table 6 ablations, as the authors' code does
them (`allow_generate`, `allow_improve`, `max_fix_chain_length` of their GIF-MCTS):
- allow_generate=false: the root still gets its one generate (there is nothing to improve yet),
  but no generate action is added after that, and every other node starts with improve only;
- allow_improve=false: nodes start with generate only (the search never asks for an improve);
- max_fixes=0 (the paper's "no fix"): a program that raises gets no fix action and is worth 0.
At least one of generate and improve must stay allowed. The other options are the search's
constants, at the authors' values by default."""

from __future__ import annotations

from dataclasses import dataclass

from cwmb.runner import Task
from runners.gif_mcts.search import Config, GifMcts
from runners.gif_mcts.tree import FIX, GENERATE, IMPROVE

__all__ = ["Config", "GifMcts", "Options", "config_of", "run"]


@dataclass(frozen=True)
class Options:
    allow_generate: bool = True  # add generate actions after the root's first one
    allow_improve: bool = True  # give healthy nodes an improve action
    max_fixes: int = 3  # f: failed fixes allowed in a chain; 0 disables fix actions
    lines_per_node: int = 2  # L: lines a generate child adds to its parent's partial program
    exploration: float = 0.1  # C of the UCT exploration term
    epsilon: float = 1.0  # eps added to the visit count under the square root
    discount: float = 1.0  # discount of values on backpropagation
    max_bug_value: float = 0.99  # temporary value of a buggy node with every fix left
    prior_generate: float = 0.5  # prior value of an untried generate action
    prior_improve: float = 0.55  # prior value of an untried improve action
    prior_fix: float = 0.5  # prior value of an untried fix action
    prior_count: int = 2  # how many observations each prior value counts as

    def __post_init__(self) -> None:
        if not (self.allow_generate or self.allow_improve):
            raise ValueError("at least one of allow_generate and allow_improve must be true")
        if self.max_fixes < 0 or self.lines_per_node < 1 or self.prior_count < 0:
            raise ValueError("max_fixes and prior_count must be >= 0, lines_per_node >= 1")


def config_of(options: Options) -> Config:
    return Config(
        lines_per_node=options.lines_per_node,
        max_fixes=options.max_fixes,
        exploration=options.exploration,
        epsilon=options.epsilon,
        discount=options.discount,
        max_bug_value=options.max_bug_value,
        priors={
            GENERATE: options.prior_generate,
            IMPROVE: options.prior_improve,
            FIX: options.prior_fix,
        },
        prior_count=options.prior_count,
        allow_generate=options.allow_generate,
        allow_improve=options.allow_improve,
    )


def run(task: Task) -> str:
    return GifMcts(task, config_of(task.options or Options())).run()
