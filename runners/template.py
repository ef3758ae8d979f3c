"""template: a complete method in one file — copy it to start your own.

Copy this file to `runners/my_method.py`, change `run`, and run it:

    cwmb bench --method my-method --envs CartPole-v1 --budget 10

(`my-method` finds `runners/my_method.py`; dashes in a method name become underscores.)

What this method does: write one program from the description, then spend every remaining LLM
call on repairing the best program found so far — fix it if it raises, improve it otherwise —
and stop as soon as a program is right on every train transition.
"""

from __future__ import annotations

from cwmb.runner import Task


def run(task: Task) -> str:
    """Return the best program found. Everything the method needs is on `task`:

    task.description      the environment's description of the run's tier (Markdown), as the
                          LLM should see it
    task.interface        the contract the program must follow, with this environment's types
    task.observation      / task.action: formats (type, shape, dtype, n, low, high)
    task.train            the train split (numpy arrays obs, action, next_obs, reward, ...)
    task.llm.complete(messages) -> str    one LLM call (chat messages); task.llm.left calls remain;
                                          the call past the budget raises BudgetExhausted
    task.generate() / task.improve(program, evaluation) / task.fix(program, evaluation)
    task.repair(program, evaluation)      the shared prompts: one LLM call each, parsed program back
    task.evaluate(program) -> Evaluation  train accuracy (+ `paper_accuracy`, state/reward/done
                                          accuracy, `solved`, `buggy`, `error`, `first_mismatch`,
                                          `credit`), run in a sandbox after autopep8 formats it
    task.best_program     the formatted program with the highest credit so far (0 if it raised)
    task.rng              a seeded numpy Generator: use it for every random choice
    task.trace.write(event, **fields)     add your own records to trace.jsonl
    task.log(message)     a line in the job's log.txt
    """
    if task.llm.left == 0:
        return ""
    program = task.generate()
    evaluation = task.evaluate(program)
    while task.llm.left > 0 and not evaluation.solved:
        best, best_evaluation = task.best_program, task.best_evaluation
        assert best is not None and best_evaluation is not None
        program = task.repair(best, best_evaluation)
        evaluation = task.evaluate(program)
        task.log(f"template: repaired program scores {evaluation.accuracy:.3f}")
    # The job also falls back to task.best_program if run() raises, so nothing found is lost.
    return task.best_program or program
