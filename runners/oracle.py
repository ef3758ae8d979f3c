"""oracle: the environment's reference program, no LLM. The upper bound of every table.

It needs the reference programs, which no other method sees: it declares that capability, and every
run that includes it records and shows it."""

from __future__ import annotations

from cwmb.runner import Task

CAPABILITIES = {"references"}


def run(task: Task) -> str:
    program = task.spec.reference_source()
    task.evaluate(program)
    return program
