"""worldcoder: the GIF-MCTS paper's re-implementation of WorldCoder's program refinement.

One program from the description; then, for every remaining LLM call, draw for each program found
so far theta ~ Beta(alpha, beta) (Thompson sampling), take the program with the largest draw, and
fix it if it raises, else improve it. A program enters with alpha = 1 + C * r and
beta = 1 + C * (1 - r), C = 5 (option `exploration`), r its credit (train accuracy, 0 if it raised). After each refinement
of a program P, P's posterior counts the outcome: alpha_P += strict and beta_P += 1 - strict, where
strict is 1 if the refined program is right on every train transition and 0 otherwise. The search
stops once a program is right everywhere and returns the program with the highest credit (the
first of equals).

As the authors' code does it (src/world_coder/world_coder_cwm.py), where the paper's text is
silent or differs:
- r and the best-program rule use the credit, so a program that raised counts as 0 however many
  transitions it got right before raising;
- the posterior update is the authors' (`update_prior`); since the search stops at the first
  perfect program, in practice only beta grows;
- every candidate is formatted with autopep8 before it is scored (see `cwmb.runner`);
- draws come from the job's seeded generator instead of numpy's global one.

Options: `exploration` is C; `selection=sequential` is the authors' ablation flag
`select_sequential`: always refine the program found last (no Beta draws), so the search becomes
a chain of refinements."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from cwmb.runner import Evaluation, Task


@dataclass(frozen=True)
class Options:
    exploration: float = 5.0  # C: how strongly a program's credit shapes its Beta prior
    selection: Literal["thompson", "sequential"] = "thompson"  # which program is refined next


@dataclass
class Candidate:
    """A program found so far and its Beta posterior over being worth refining."""

    program: str
    evaluation: Evaluation
    alpha: float
    beta: float

    @classmethod
    def enter(
        cls, program: str, evaluation: Evaluation, c: float = Options.exploration
    ) -> Candidate:
        r = evaluation.credit
        return cls(program, evaluation, 1.0 + c * r, 1.0 + c * (1.0 - r))

    def count_refinement(self, child: Evaluation) -> None:
        """One refinement of this program happened; `child` is how its result scored."""
        strict = 1.0 if child.solved and not child.buggy else 0.0
        self.alpha += strict
        self.beta += 1.0 - strict


def choose(candidates: list[Candidate], rng: np.random.Generator) -> int:
    """The index of the program to refine next (one Beta draw per program)."""
    alphas = np.array([c.alpha for c in candidates])
    betas = np.array([c.beta for c in candidates])
    return int(np.argmax(rng.beta(alphas, betas)))


def run(task: Task) -> str:
    options = task.options or Options()
    if task.llm.left == 0:
        return ""
    program = task.generate()
    candidates = [Candidate.enter(program, task.evaluate(program), options.exploration)]
    while task.llm.left > 0 and not candidates[-1].evaluation.solved:
        sequential = options.selection == "sequential"
        index = len(candidates) - 1 if sequential else choose(candidates, task.rng)
        parent = candidates[index]
        program = task.repair(parent.program, parent.evaluation)
        evaluation = task.evaluate(program)
        candidates.append(Candidate.enter(program, evaluation, options.exploration))
        parent.count_refinement(evaluation)
        task.trace.write(
            "refined",
            parent=index,
            child=len(candidates) - 1,
            posterior=[[c.alpha, c.beta] for c in candidates],
        )
    return task.best_program or program
