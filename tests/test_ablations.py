"""The methods' ablation options, driven through the scripted server: each GIF-MCTS switch of
Table 6 removes exactly its action type (and the same script without it does use it); WorldCoder's
sequential selection always refines the latest program, and its C shapes the priors."""

from __future__ import annotations

from collections import Counter

import pytest
from methods_helpers import KindScript, fenced, make_task, marker_program

import runners.gif_mcts as gif_mcts
from cwmb.llm.client import LlmClient
from runners import worldcoder
from runners.gif_mcts.tree import FIX, GENERATE, IMPROVE

ENV = "CartPole-v1"
BUDGET = 12


@pytest.fixture
def client(scripted_llm):
    with LlmClient("openai/scripted", base_url=scripted_llm.base_url) as llm:
        yield llm


def answers(*scores: float, raises_every: int = 0):
    """Programs scoring `scores` in turn; every `raises_every`-th one raises (0: none do)."""
    state = {"n": 0}

    def answer(messages):
        state["n"] += 1
        n = state["n"]
        raises = bool(raises_every) and n % raises_every == 0
        return fenced(marker_program(scores[n % len(scores)], raises=raises, tag=str(n)))

    return answer


def search(scripted_llm, client, options: gif_mcts.Options, **script):
    scripted_llm.script(KindScript(**script))
    task = make_task(ENV, client, BUDGET, seed=1)
    task.options = options
    searcher = gif_mcts.GifMcts(task, gif_mcts.config_of(options))
    searcher.run()
    return searcher, Counter(n.action for n in searcher.nodes[1:])


@pytest.mark.parametrize(
    ("options", "removed", "kept", "script"),
    [
        # Improve answers score higher: the full search prefers them.
        (gif_mcts.Options(allow_improve=False), IMPROVE, GENERATE,
         {"generate": answers(0.2, 0.3), "improve": answers(0.6, 0.7)}),
        # Generate answers score higher: the full search generates more than once.
        (gif_mcts.Options(allow_generate=False), GENERATE, IMPROVE,
         {"generate": answers(0.6, 0.7), "improve": answers(0.2, 0.3)}),
    ],
)  # fmt: skip
def test_a_switched_off_action_is_never_expanded(
    scripted_llm, client, options, removed, kept, script
):
    _, full = search(scripted_llm, client, gif_mcts.Options(), **script)
    assert full[removed] > (1 if removed == GENERATE else 0)
    searcher, ablated = search(scripted_llm, client, options, **script)
    # Without generate, the root's first generate is still there (nothing to improve before).
    expected = {IMPROVE: {}, GENERATE: {GENERATE: 1, IMPROVE: BUDGET - 1}}[removed]
    assert dict(ablated) == (expected or {kept: BUDGET})
    assert all(removed not in n.untried for n in searcher.nodes)
    if removed == GENERATE:
        assert searcher.root.untried == [] and len(searcher.root.children) == 1


def test_without_fixes_a_program_that_raises_is_a_dead_end(scripted_llm, client):
    script = {
        "generate": answers(0.4, 0.5, raises_every=2),
        "improve": answers(0.3, raises_every=2),
    }
    _, full = search(scripted_llm, client, gif_mcts.Options(), **script)
    assert full[FIX] > 0
    searcher, ablated = search(scripted_llm, client, gif_mcts.Options(max_fixes=0), **script)
    buggy = [n for n in searcher.nodes if n.buggy]
    assert ablated[FIX] == 0 and buggy
    assert all(n.untried == [] and n.value == 0.0 and n.chain == "closed" for n in buggy)
    assert sum(ablated.values()) == BUDGET


def test_a_tree_with_no_action_left_stops_the_search(scripted_llm, client):
    # No generate after the root's, no fix: a first program that raises leaves nothing to do.
    options = gif_mcts.Options(allow_generate=False, max_fixes=0)
    searcher, counts = search(
        scripted_llm, client, options, generate=[fenced(marker_program(0.5, raises=True))]
    )
    assert counts == {GENERATE: 1} and searcher.task.llm.calls == 1
    assert searcher.root.exhausted()


def test_the_constants_reach_the_search(scripted_llm, client):
    options = gif_mcts.Options(exploration=2.0, prior_improve=0.9, lines_per_node=3, max_fixes=2)
    config = gif_mcts.config_of(options)
    assert (config.exploration, config.lines_per_node, config.max_fixes) == (2.0, 3, 2)
    assert config.priors[IMPROVE] == 0.9
    # run(task) builds its search from task.options.
    scripted_llm.script(KindScript(generate=answers(0.3)))
    task = make_task(ENV, client, 3, seed=0)
    task.options = gif_mcts.Options(allow_improve=False)
    gif_mcts.run(task)
    assert [e["purpose"] for e in task.trace.events("llm")] == [GENERATE] * 3


def test_worldcoder_sequential_selection_refines_the_latest_program(scripted_llm, client):
    # Early programs score high, later ones low: Thompson sampling goes back to the early ones.
    scores = iter([0.8, 0.1, 0.15, 0.1, 0.12, 0.1, 0.11, 0.1, 0.1])
    script = {"improve": lambda m: fenced(marker_program(next(scores)))}

    def parents(options):
        scripted_llm.script(KindScript(generate=answers(0.7), **script))
        task = make_task(ENV, client, 8, seed=3)
        task.options = options
        worldcoder.run(task)
        return [e["parent"] for e in task.trace.events("refined")], task

    thompson, _ = parents(worldcoder.Options())
    assert thompson != list(range(len(thompson)))
    scores = iter([0.8, 0.1, 0.15, 0.1, 0.12, 0.1, 0.11, 0.1, 0.1])
    script = {"improve": lambda m: fenced(marker_program(next(scores)))}
    sequential, task = parents(worldcoder.Options(selection="sequential"))
    assert sequential == list(range(7))
    # C = 2: a program of credit r enters with Beta(1 + 2r, 1 + 2(1 - r)).
    scripted_llm.script(KindScript(generate=answers(0.5), improve=answers(0.5)))
    task = make_task(ENV, client, 2, seed=0)
    task.options = worldcoder.Options(exploration=2.0)
    worldcoder.run(task)
    assert task.trace.events("refined")[0]["posterior"][1] == pytest.approx([2.0, 2.0])
