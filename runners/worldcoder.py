"""worldcoder: the GIF-MCTS paper's re-implementation of WorldCoder's program refinement.

One program from the description; then, for every remaining LLM call, draw for each program found
so far theta ~ Beta(1 + C * r, 1 + C * (1 - r)) with C = 5 and r its train accuracy (Thompson
sampling), take the program with the largest draw, and fix it if it raises, else improve it. The
search stops early once a program is right everywhere and returns the most accurate program."""

from __future__ import annotations

import numpy as np

from cwmb.runner import Evaluation, Task

C = 5.0


def choose(candidates: list[tuple[str, Evaluation]], rng: np.random.Generator) -> int:
    """The index of the program to refine next (one Beta draw per program)."""
    accuracies = np.array([evaluation.accuracy for _, evaluation in candidates])
    draws = rng.beta(1.0 + C * accuracies, 1.0 + C * (1.0 - accuracies))
    return int(np.argmax(draws))


def run(task: Task) -> str:
    if task.llm.left == 0:
        return ""
    program = task.generate()
    candidates = [(program, task.evaluate(program))]
    while task.llm.left > 0 and not candidates[-1][1].solved:
        index = choose(candidates, task.rng)
        parent, evaluation = candidates[index]
        program = task.repair(parent, evaluation)
        candidates.append((program, task.evaluate(program)))
        task.trace.write("refined", parent=index, child=len(candidates) - 1)
    return task.best_program or program
