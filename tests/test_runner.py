"""The runner API: registry, the budgeted LLM, evaluation in a sandbox, the trace."""

from __future__ import annotations

import importlib.metadata
import os

import pytest
from methods_helpers import make_task, sandbox_evaluator

from cwmb import registry, runner
from cwmb.errors import CwmbError
from cwmb.llm.client import LlmClient
from cwmb.llm.errors import BudgetExhausted
from cwmb.runner import known_methods, load_runner
from cwmb.trace import TraceWriter, read_trace

METHODS = [
    "best-of-n",
    "gif-mcts",
    "null",
    "oracle",
    "refine",
    "template",
    "worldcoder",
    "zero-shot",
]
ENV = "CliffWalking-v1"


def test_every_method_is_found_by_name():
    assert set(METHODS) <= set(known_methods())
    for method in METHODS:
        assert callable(load_runner(method))


def test_unknown_method_lists_the_known_ones():
    with pytest.raises(CwmbError, match="unknown method 'nope'.*gif-mcts.*zero-shot"):
        load_runner("nope")
    with pytest.raises(CwmbError, match="invalid method name"):
        load_runner("../etc")


def test_entry_point_runners_are_found(monkeypatch):
    point = importlib.metadata.EntryPoint(
        name="external-method", value="runners.null:run", group=runner.ENTRY_POINT_GROUP
    )
    monkeypatch.setattr(runner, "_entry_points", lambda: {point.name: point})
    from runners import null

    assert load_runner("external-method") is null.run
    assert "external-method" in known_methods()


def test_budget_is_enforced_before_the_gateway(scripted_llm):
    scripted_llm.script(["one", "two", "three"])
    with LlmClient("openai/scripted", base_url=scripted_llm.base_url) as client:
        task = make_task(ENV, client, budget=2, seed=5)
        assert [task.llm.complete([{"role": "user", "content": "hi"}]) for _ in range(2)] == [
            "one",
            "two",
        ]
        with pytest.raises(BudgetExhausted):
            task.llm.complete([{"role": "user", "content": "hi"}])
    assert scripted_llm.upstream_calls == 2 and task.llm.left == 0
    calls = task.trace.events("llm")
    assert [c["call"] for c in calls] == [0, 1] and calls[1]["response"] == "two"
    # Per-call seeds derived from the job's seed: distinct and reproducible.
    seeds = [r.body["seed"] for r in scripted_llm.chat_requests]
    assert len(set(seeds)) == 2
    assert seeds == [c["sampling"]["seed"] for c in calls]


def test_a_job_without_gateway_cannot_call_the_llm():
    task = make_task(ENV, None, budget=3)
    with pytest.raises(CwmbError, match="no LLM gateway"):
        task.llm.complete([{"role": "user", "content": "hi"}])


def test_evaluate_scores_in_a_sandbox_process():
    task = make_task(ENV, None, budget=0)
    task.evaluator = sandbox_evaluator(task)
    reference = registry.get(ENV).reference_source()
    good = task.evaluate(reference)
    assert good.solved and good.accuracy == 1.0 and not good.buggy and good.first_mismatch is None
    # The program runs in another process: it raises if it finds itself in this one.
    here = f"import os\nif os.getpid() == {os.getpid()}:\n    raise SystemExit('in the job')\n"
    assert not task.evaluate(here + reference).buggy
    wrong = task.evaluate(reference.replace("-100", "-99"))
    assert 0 < wrong.accuracy < 1 and wrong.first_mismatch is not None
    assert wrong.first_mismatch["expected"]["reward"] == -100.0
    raising = task.evaluate(
        reference.replace("def step(self, action):", "def step(self, action):\n        1 / 0")
    )
    assert raising.buggy and "ZeroDivisionError" in (raising.error or "")
    broken = task.evaluate("class Environment(:\n")
    assert broken.buggy and broken.accuracy == 0.0 and "SyntaxError" in (broken.error or "")
    # Best program so far, and the trace of every evaluation.
    assert task.best_program == reference and task.best_evaluation is good
    assert len(task.trace.events("evaluation")) == 5


def test_repeated_programs_are_not_rerun():
    task = make_task(ENV, None, budget=0)
    calls = []

    def evaluator(program):
        calls.append(program)
        return runner.Evaluation(0.5, 0.5, 0.5, 0.5, False, 1, 0, None, None)

    task.evaluator = evaluator
    task.evaluate("x = 1\n")
    task.evaluate("x = 1\n")
    assert calls == ["x = 1\n"]
    assert [r["cached"] for r in task.trace.events("evaluation")] == [False, True]


def test_trace_lines_are_flushed_and_strict_json(tmp_path):
    path = tmp_path / "trace.jsonl"
    with TraceWriter(path) as trace:
        trace.write("evaluation", accuracy=float("nan"), values=(1, 2))
        assert read_trace(path)[0]["accuracy"] == "nan"  # readable before close
        trace.write("llm", response="x")
    records = read_trace(path)
    assert [r["seq"] for r in records] == [0, 1]
    assert records[0]["values"] == [1, 2] and records[1]["event"] == "llm"


def test_best_program_is_the_highest_credit_and_a_raising_one_counts_zero(scripted_llm):
    from methods_helpers import fenced, marker_program

    answers = [
        fenced(marker_program(0.9, raises=True, tag="raised")),
        fenced(marker_program(0.3, tag="first")),
        fenced(marker_program(0.3, tag="second")),
        fenced(marker_program(0.2, tag="worse")),
    ]
    scripted_llm.script(answers)
    with LlmClient("openai/scripted", base_url=scripted_llm.base_url) as client:
        task = make_task(ENV, client, budget=4)
        evaluations = [task.evaluate(task.generate()) for _ in range(4)]
    assert evaluations[0].buggy and evaluations[0].accuracy == 0.9 and evaluations[0].credit == 0
    # 90% right before raising loses to 30% without raising; of two equals the first stays.
    assert task.best_program is not None and "# tag first" in task.best_program
    assert task.best_evaluation is evaluations[1]


def test_candidates_are_formatted_with_autopep8_and_never_run_in_the_job(tmp_path):
    import autopep8

    marker = tmp_path / "ran"
    program = (
        f"open({str(marker)!r}, 'w').write('x')\n"
        "class Environment :\n"
        "  def __init__(self): self.s=None\n"
        "  def set_state(self,state): self.s=state\n"
        "  def step(self,action): return self.s,0.0,False\n"
    )
    seen = []

    def evaluator(text):
        seen.append(text)
        return runner.Evaluation(0.5, 0.5, 0.5, 0.5, False, 1, 0, None, None)

    task = make_task(ENV, None, budget=0, evaluator=evaluator)
    task.evaluate(program)
    formatted = autopep8.fix_code(program)
    assert formatted != program and seen == [formatted]
    assert task.best_program == formatted and task.formatted(program) == formatted
    # The job finds the evaluation from either text; formatting again changes nothing.
    assert task.evaluation_of(program) is task.evaluation_of(formatted) is not None
    task.evaluate(formatted)
    assert seen == [formatted]
    assert not marker.exists(), "formatting ran the program"
