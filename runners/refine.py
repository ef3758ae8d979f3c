"""refine: one program from the description, then each remaining call repairs the latest program
(fix if it raises, else improve with its first mispredicted transition). Returns the most accurate
program seen (a program that raised counts as 0); stops early once a program is right everywhere."""

from __future__ import annotations

from cwmb.runner import Task


def run(task: Task) -> str:
    if task.llm.left == 0:
        return ""
    program = task.generate()
    evaluation = task.evaluate(program)
    while task.llm.left > 0 and not evaluation.solved:
        program = task.repair(program, evaluation)
        evaluation = task.evaluate(program)
    return task.best_program or program
