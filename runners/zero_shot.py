"""zero-shot: one program written from the description, nothing else (one LLM call)."""

from __future__ import annotations

from cwmb.runner import Task


def run(task: Task) -> str:
    if task.llm.left == 0:
        return ""
    program = task.generate()
    task.evaluate(program)
    return program
