"""Every method runs on every environment that has a train split, through `cwmb job` with the
scripted server; plus the baselines' own rules."""

from __future__ import annotations

import numpy as np
import pytest
from methods_helpers import KindScript, fenced, make_task, marker_program, shipped_train_envs

from cwmb import registry
from cwmb.job import JobConfig, run_job
from cwmb.llm.client import LlmClient
from runners import best_of_n, null, refine, worldcoder, zero_shot

LLM_METHODS = ["gif-mcts", "worldcoder", "best-of-n", "refine", "zero-shot", "template"]
ENVS = shipped_train_envs()


def test_some_environments_have_train_splits():
    assert ENVS, "no shipped train split: run `cwmb collect`"


@pytest.mark.parametrize("env_id", ENVS)
@pytest.mark.parametrize("method", [*LLM_METHODS, "oracle", "null"])
def test_method_runs_on_environment(method, env_id, scripted_llm, tmp_path):
    reference = registry.get(env_id).reference_source()
    answers = iter([fenced(null.PROGRAM)])
    # The first answer predicts "no change"; every later one is the reference program.
    scripted_llm.script(lambda body: next(answers, fenced(reference)))
    config = JobConfig(
        method=method, env_id=env_id, seed=1, budget=3, out=tmp_path,
        llm_url=scripted_llm.base_url, model="openai/scripted",
    )  # fmt: skip
    result = run_job(config)
    info = result.info
    assert result.status == "ok", result.error
    assert (tmp_path / "program.py").read_text() == result.program
    assert info["llm_calls"] == scripted_llm.upstream_calls <= 3
    if method == "oracle":
        assert info["llm_calls"] == 0 and info["train_solved"] and result.program == reference
    elif method == "null":
        assert info["llm_calls"] == 0 and not info["train_solved"]
    elif method == "zero-shot":
        assert info["llm_calls"] == 1 and result.program == null.PROGRAM
    else:
        # The second answer is right everywhere, and every search stops there.
        assert info["train_solved"] and info["llm_calls"] == 2


@pytest.fixture
def client(scripted_llm):
    with LlmClient("openai/scripted", base_url=scripted_llm.base_url) as llm:
        yield llm


def answers(*scores, raises=()):
    return [fenced(marker_program(s, raises=i in raises, tag=str(i))) for i, s in enumerate(scores)]


def test_zero_shot_makes_one_call(scripted_llm, client):
    scripted_llm.script(answers(0.4, 0.9))
    task = make_task("CartPole-v1", client, budget=5)
    assert "# score 0.4" in zero_shot.run(task) and task.llm.calls == 1


def test_best_of_n_spends_the_budget_on_generates_and_keeps_the_best(scripted_llm, client):
    script = KindScript(generate=answers(0.2, 0.7, 0.5, 0.1))
    scripted_llm.script(script)
    task = make_task("CartPole-v1", client, budget=4)
    assert "# score 0.7" in best_of_n.run(task)
    assert script.kinds == ["generate"] * 4


def test_refine_repairs_the_latest_program_only(scripted_llm, client):
    script = KindScript(generate=answers(0.5), improve=answers(0.3, 0.2), fix=answers(0.6))
    script.queues["improve"][1] = fenced(marker_program(0.2, raises=True, tag="bug"))
    scripted_llm.script(script)
    task = make_task("CartPole-v1", client, budget=4)
    program = refine.run(task)
    # generate 0.5 -> improve -> 0.3 -> improve (latest, not best) -> bug -> fix -> 0.6
    assert script.kinds == ["generate", "improve", "improve", "fix"]
    assert "# score 0.3" in script.messages[2][-1]["content"]
    assert "# score 0.6" in program


def test_worldcoder_thompson_samples_programs_and_fixes_buggy_ones(scripted_llm, client):
    script = KindScript(
        generate=answers(0.0, raises=(0,)), fix=lambda m: fenced(marker_program(0.5)),
        improve=lambda m: fenced(marker_program(0.6)),
    )  # fmt: skip
    scripted_llm.script(script)
    task = make_task("CartPole-v1", client, budget=6, seed=4)
    program = worldcoder.run(task)
    assert script.kinds[:2] == ["generate", "fix"]  # the only program raises: it is fixed
    assert set(script.kinds[2:]) <= {"fix", "improve"} and len(script.kinds) == 6
    assert "# score 0.6" in program
    assert len(task.trace.events("refined")) == 5


def test_worldcoder_draws_follow_the_beta_posterior():
    from cwmb.runner import Evaluation

    def ev(acc):
        return Evaluation(acc, acc, acc, acc, False, 1, 0, None, None)

    candidates = [
        worldcoder.Candidate.enter(p, ev(a)) for p, a in (("a", 0.1), ("b", 0.9), ("c", 0.5))
    ]
    rng = np.random.default_rng(0)
    picks = [worldcoder.choose(candidates, rng) for _ in range(2000)]
    counts = np.bincount(picks, minlength=3) / 2000
    # Beta(1.5, 5.5), Beta(5.5, 1.5), Beta(3.5, 3.5): the accurate program wins most draws.
    assert counts[1] > 0.6 and counts[0] < 0.05
    rng_a, rng_b = np.random.default_rng(3), np.random.default_rng(3)
    assert [worldcoder.choose(candidates, rng_a) for _ in range(20)] == [
        worldcoder.choose(candidates, rng_b) for _ in range(20)
    ]


def test_worldcoder_posterior_counts_every_refinement(scripted_llm, client):
    """After each refinement of P: alpha_P += strict, beta_P += 1 - strict (the authors' rule)."""
    scores = iter([0.3, 0.6, 0.2, 0.5, 0.4, 0.1, 0.35])
    script = KindScript(
        generate=answers(0.5), improve=lambda m: fenced(marker_program(next(scores))),
        fix=lambda m: fenced(marker_program(next(scores))),
    )  # fmt: skip
    scripted_llm.script(script)
    task = make_task("CartPole-v1", client, budget=8, seed=2)
    worldcoder.run(task)
    refined = task.trace.events("refined")
    assert len(refined) == 7
    # Replay the run: each program enters with Beta(1 + 5r, 1 + 5(1 - r)); the parent chosen by
    # the draws over the posteriors so far gains one failure, as no refinement was perfect.
    credits = [0.5, 0.3, 0.6, 0.2, 0.5, 0.4, 0.1, 0.35]
    posterior = [[1 + 5 * credits[0], 1 + 5 * (1 - credits[0])]]
    rng = np.random.default_rng(2)
    for step, record in enumerate(refined):
        draws = rng.beta([a for a, _ in posterior], [b for _, b in posterior])
        parent = int(np.argmax(draws))
        assert record["parent"] == parent
        r = credits[step + 1]
        posterior.append([1 + 5 * r, 1 + 5 * (1 - r)])
        posterior[parent][1] += 1
        np.testing.assert_allclose(record["posterior"], posterior)
    # Seven refinements, seven failures counted; no success, so every alpha is its prior.
    gained = [b - (1 + 5 * (1 - r)) for (_, b), r in zip(posterior, credits, strict=True)]
    assert sum(gained) == pytest.approx(7) and max(gained) >= 2


def test_worldcoder_strict_success_raises_alpha():
    from cwmb.runner import Evaluation

    parent = worldcoder.Candidate.enter(
        "p", Evaluation(0.4, 0.4, 0.4, 0.4, False, 1, 0, None, None)
    )
    assert (parent.alpha, parent.beta) == pytest.approx((3.0, 4.0))
    parent.count_refinement(Evaluation(1.0, 1.0, 1.0, 1.0, True, 1, 0, None, None))
    assert (parent.alpha, parent.beta) == pytest.approx((4.0, 4.0))
    parent.count_refinement(Evaluation(0.9, 0.9, 0.9, 0.9, False, 1, 0, None, None))
    assert (parent.alpha, parent.beta) == pytest.approx((4.0, 5.0))
    # A program that raised enters as if it scored 0, whatever it got right before raising.
    buggy = Evaluation(0.8, 0.8, 0.8, 0.8, False, 1, 1, "Traceback", None)
    assert (
        worldcoder.Candidate.enter("b", buggy).alpha,
        worldcoder.Candidate.enter("b", buggy).beta,
    ) == (1.0, 6.0)


def test_worldcoder_best_program_counts_a_raising_program_as_zero(scripted_llm, client):
    script = KindScript(
        generate=[fenced(marker_program(0.9, raises=True, tag="bug"))],
        fix=answers(0.3), improve=lambda m: fenced(marker_program(0.2)),
    )  # fmt: skip
    scripted_llm.script(script)
    task = make_task("CartPole-v1", client, budget=4, seed=0)
    program = worldcoder.run(task)
    assert "# score 0.3" in program and "# raises" not in program
    assert task.best_evaluation is not None and task.best_evaluation.credit == 0.3
