"""oracle: the environment's reference program, no LLM. The upper bound of every table."""

from __future__ import annotations

from cwmb.runner import Task


def run(task: Task) -> str:
    program = task.spec.reference_source()
    task.evaluate(program)
    return program
