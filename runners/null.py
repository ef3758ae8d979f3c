"""null: a program that predicts that nothing changes (same state, reward 0, never done), no LLM.
The floor of every table: a method must beat it to have learned anything."""

from __future__ import annotations

from cwmb.runner import Task

PROGRAM = '''\
class Environment:
    """Predicts no change: the next state is the current one, reward 0, never done."""

    def __init__(self):
        self.state = None

    def set_state(self, state):
        self.state = state

    def step(self, action):
        return self.state, 0.0, False
'''


def run(task: Task) -> str:
    task.evaluate(PROGRAM)
    return PROGRAM
