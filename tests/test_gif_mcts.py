"""GIF-MCTS, rule by rule, driven through the scripted OpenAI-compatible server.

Answers are marker programs (`# score X`, `# raises`) scored by the instant fake evaluator, so
each test controls exactly what every expansion yields."""

from __future__ import annotations

import math

import pytest
from methods_helpers import KindScript, fenced, make_task, marker_program

from cwmb.llm.client import LlmClient
from runners.gif_mcts.search import GifMcts
from runners.gif_mcts.tree import FIX, GENERATE, IMPROVE
from runners.gif_mcts.values import ValueModel

ENV = "CartPole-v1"


@pytest.fixture
def client(scripted_llm):
    with LlmClient("openai/scripted", base_url=scripted_llm.base_url) as llm:
        yield llm


def search_with(scripted_llm, client, script: KindScript, budget: int = 10, seed: int = 0):
    scripted_llm.script(script)
    return GifMcts(make_task(ENV, client, budget, seed=seed))


def gen(score: float, raises: bool = False, lines: int = 12, tag: str = "") -> str:
    return fenced(marker_program(score, raises=raises, lines=lines, tag=tag))


def test_root_allows_only_generate(scripted_llm, client):
    search = search_with(
        scripted_llm, client, KindScript(generate=lambda m: gen(0.3), improve=lambda m: gen(0.2))
    )
    assert search.root.untried == [GENERATE]
    search.run()
    assert search.task.llm.calls == 10
    assert search.root.children, "the root was expanded"
    assert {c.action for c in search.root.children} == {GENERATE}
    assert search.root.untried == [GENERATE]


def test_new_action_of_the_same_type_after_each_expansion(scripted_llm, client):
    search = search_with(scripted_llm, client, KindScript(generate=lambda m: gen(0.4)))
    first = search.iterate()
    # The expanded generate was replaced by a fresh untried generate at the root ...
    assert search.root.untried == [GENERATE]
    # ... whose n_a is the number of expanded generate children (1) in the exploration term.
    options = {o.child.id if o.child else o.action: o for o in search.options(search.root)}
    n_root = search.root.visits
    assert options[GENERATE].exploration == pytest.approx(0.1 * math.sqrt(math.log(n_root) / 2))
    assert options[first.id].exploration == pytest.approx(
        0.1 * math.sqrt(math.log(n_root) / (first.visits + 1))
    )
    # A healthy, non-terminal node offers generate and improve; expanding improve there keeps
    # one untried improve.
    assert first.untried == [GENERATE, IMPROVE]
    child = search.expand(first, IMPROVE)
    assert first.untried == [GENERATE, IMPROVE]
    assert first.expanded_of(IMPROVE) == [child]


def test_buggy_program_is_fixed_by_the_next_call(scripted_llm, client):
    script = KindScript(generate=[gen(0.9, raises=True)], fix=[gen(0.5)])
    search = search_with(scripted_llm, client, script, budget=2)
    search.run()
    assert script.kinds == ["generate", "fix"]
    buggy = search.root.children[0]
    assert buggy.buggy and buggy.untried == [] and len(buggy.children) == 1
    assert buggy.children[0].action == FIX
    # The fix prompt shows the program that raised and its error.
    fix_prompt = script.messages[1][-1]["content"]
    assert "# raises" in fix_prompt and "scripted bug" in fix_prompt


def test_fix_chain_values_fall_then_the_chain_closes(scripted_llm, client):
    script = KindScript(
        generate=[gen(0.9, raises=True, tag="head")] + [gen(0.0, tag=f"g{i}") for i in range(20)],
        fix=[gen(0.0, raises=True, tag=f"f{i}") for i in range(3)],
    )
    search = search_with(scripted_llm, client, script, budget=20)
    head = search.iterate()
    assert head.buggy and head.value == pytest.approx(0.99) and head.fixes_left == 3
    seen = []
    while len(seen) < 3:
        node = search.iterate()
        if node.action == FIX:
            chain = node.fix_chain()
            assert chain[-1] is head
            seen.append([round(n.value, 6) for n in chain])
    # After 1, 2, 3 failed fixes every node of the chain is worth 0.66, 0.33, 0.
    assert seen == [[0.66, 0.66], [0.33, 0.33, 0.33], [0.0, 0.0, 0.0, 0.0]]
    last = node
    assert last.fixes_left == 0 and all(n.chain == "closed" for n in last.fix_chain())
    assert all(not n.untried for n in last.fix_chain()) and head.exhausted()
    # A closed chain is never selected again: the rest of the budget goes elsewhere.
    search.run()
    assert script.kinds.count("fix") == 3
    assert len(head.children) == 1 and all(not n.children for n in [last])


def test_temporary_bug_value_is_not_backpropagated(scripted_llm, client):
    script = KindScript(
        generate=[gen(0.6, tag="a"), gen(0.2, raises=True)], improve=[gen(0.2, raises=True)]
    )
    search = search_with(scripted_llm, client, script, budget=2)
    first = search.iterate()
    assert search.root.value == pytest.approx(0.6 / 2)  # root: 1 initial visit + 1 with 0.6
    buggy = search.iterate()
    assert buggy.buggy and buggy.value == pytest.approx(0.99)
    # Ancestors count the visit but keep their mean value.
    assert search.root.visits == 3 and search.root.value == pytest.approx(0.3)
    assert first.value == pytest.approx(0.6)
    assert first.visits == (2 if buggy.parent is first else 1)


def test_successful_fix_gives_the_chain_its_value(scripted_llm, client):
    script = KindScript(
        generate=[gen(0.9, raises=True)] + [gen(0.0) for _ in range(10)],
        fix=[gen(0.0, raises=True), gen(0.4, tag="fixed")],
    )
    search = search_with(scripted_llm, client, script, budget=12)
    head = search.iterate()
    fixed = None
    while fixed is None:
        node = search.iterate()
        if node.action == FIX and not node.buggy:
            fixed = node
    chain = fixed.parent.fix_chain()
    assert chain[-1] is head and len(chain) == 2
    assert [n.value for n in chain] == pytest.approx([0.4, 0.4])
    assert all(n.chain == "resolved" for n in chain)
    assert fixed.value == pytest.approx(0.4) and fixed.untried == [GENERATE, IMPROVE]


def test_nodes_grow_by_the_authors_line_count(scripted_llm, client):
    # Blank lines count: the first child holds the answer's first 4 lines behind a newline.
    spaced = "# cwm\n\n# score 0.3\n# tag a\n" + "".join(f"v{i} = {i}\n" for i in range(8))
    longer = marker_program(0.35, lines=12)
    script = KindScript(generate=[fenced(spaced), fenced(longer), gen(0.5, lines=6)])
    search = search_with(scripted_llm, client, script, budget=3)
    first = search.iterate()
    assert first.program == "\n# cwm\n\n# score 0.3\n# tag a" and not first.terminal
    # Its partial counts 5 lines (the leading newline too): the child takes 7, 3 more.
    second = search.expand(first, GENERATE)
    assert second.program == "\n" + "\n".join(longer.split("\n")[:7])
    assert not second.terminal and second.untried == [GENERATE, IMPROVE]
    # The next cut needs 10 lines; a 6-line program ends first: terminal, with no actions.
    third = search.expand(second, GENERATE)
    assert third.terminal and third.untried == [] and not third.children


def test_terminal_node_has_value_zero_and_passes_its_credit_to_its_parent(scripted_llm, client):
    short = fenced("# cwm\n# score 0.4\n# tag t\n")  # 3 lines: 1 beyond the root's 2
    script = KindScript(generate=[short, gen(0.2, tag="next")])
    search = search_with(scripted_llm, client, script, budget=2)
    terminal = search.iterate()
    assert terminal.terminal and terminal.untried == [] and terminal.reward == 0.4
    assert terminal.visits == 1 and terminal.value == 0.0
    assert search.root.visits == 2 and search.root.value == pytest.approx(0.4 / 2)
    # It is never selected again: the root's only option is its untried generate.
    assert [o.child for o in search.options(search.root)] == [None]
    assert search.best is terminal
    search.iterate()
    assert search.root.children[1].action == GENERATE and not terminal.children


def test_value_model_learns_after_the_expansion_with_the_new_child_in_v_local(scripted_llm, client):
    script = KindScript(generate=[gen(0.05), gen(0.2)])
    search = search_with(scripted_llm, client, script, budget=2)
    first_node = search.iterate()
    second_node = search.iterate()
    # A poor first program: the second call is another generate at the root, its sibling.
    assert second_node.parent is search.root is first_node.parent
    first, second = (r["value_model"] for r in search.task.trace.events("node"))
    # v_L counts the new child with value 0: 0 alone, then (0.05 + 0) / 2 next to its sibling.
    assert first["v_local"] == 0.0 and first["v_global"] == 0.5
    # prediction 0.25, target 0.05: error 0.4, gradients +/-0.1, lr 1/3.
    assert first["predicted"] == pytest.approx(0.25)
    assert (first["w_global"], first["w_local"]) == pytest.approx((0.5 - 0.1 / 3, 0.5 + 0.1 / 3))
    assert second["v_local"] == pytest.approx(0.025)
    assert second["v_global"] == pytest.approx((0.5 * 2 + 0.05) / 3)


def test_best_program_counts_a_raising_program_as_zero(scripted_llm, client):
    # The first program raised after getting 90% right; the later ones are healthy but worse.
    script = KindScript(
        generate=[gen(0.9, raises=True, tag="bug")] + [gen(0.1, tag=f"g{i}") for i in range(3)],
        fix=[gen(0.3, tag="fixed")],
        improve=[gen(0.1, tag=f"i{i}") for i in range(3)],
    )
    search = search_with(scripted_llm, client, script, budget=3)
    program = search.run()
    assert "# tag fixed" in program and "# raises" not in program
    assert search.best is not None and not search.best.buggy and search.best.accuracy == 0.3
    # The job's own record of the best program follows the same rule.
    assert search.task.best_program is not None and "# tag fixed" in search.task.best_program


def test_selection_uses_the_ucb_formula(scripted_llm, client):
    script = KindScript(generate=[gen(0.6), gen(0.2)], improve=[gen(0.7)])
    search = search_with(scripted_llm, client, script, budget=3)
    a = search.iterate()
    options = search.options(search.root)
    n = search.root.visits
    scores = {o.child.id if o.child else o.action: o.score for o in options}
    assert scores[a.id] == pytest.approx(0.6 + 0.1 * math.sqrt(math.log(n) / (1 + 1)))
    v_g = (0.5 * 2 + 0.6) / 3  # prior 0.5 counted twice, then one generate worth 0.6
    v_l = 0.6
    # The first update saw v_G = 0.5, v_L = 0 (the new child before backpropagation) and
    # target 0.6: prediction 0.25, error 2 * (0.25 - 0.6) = -0.7, gradients -/+0.175, lr 1/3.
    w_g, w_l = 0.5 + 0.175 / 3, 0.5 - 0.175 / 3
    expected = (w_g * v_g + w_l * v_l) / (w_g + w_l) + 0.1 * math.sqrt(math.log(n) / (1 + 1))
    assert scores[GENERATE] == pytest.approx(expected)


def test_value_model_sgd_step():
    model = ValueModel(prior=0.5, prior_count=2)
    assert model.global_value() == 0.5 and model.learning_rate == pytest.approx(1 / 3)
    # Without a local value the prediction is v_G and the weights do not move.
    assert model.update(0.5, None, 1.0) == 0.5
    assert (model.w_global, model.w_local) == (0.5, 0.5) and model.learning_rate == 0.25
    # With v_G = 0.2, v_L = 0.8: prediction 0.5, target 0.8 -> error 2*(0.5-0.8) = -0.6;
    # d/dw_G = 0.5*(0.2-0.8)/1 = -0.3, d/dw_L = +0.3; lr 1/4.
    predicted = model.update(0.2, 0.8, 0.8)
    assert predicted == pytest.approx(0.5)
    assert model.w_global == pytest.approx(0.5 - 0.25 * (-0.6 * -0.3))
    assert model.w_local == pytest.approx(0.5 - 0.25 * (-0.6 * 0.3))
    assert model.predict(0.2, 0.8) > 0.5  # moved towards the local value, as the target asked
    model.observe(1.0)
    assert model.global_value() == pytest.approx((0.5 * 2 + 1.0) / 3)


def test_value_models_learn_from_every_expansion(scripted_llm, client):
    scores = iter([0.3, 0.5, 0.1, 0.6, 0.2, 0.4, 0.45, 0.35, 0.25, 0.15, 0.05, 0.55])
    script = KindScript(generate=lambda m: gen(next(scores)), improve=lambda m: gen(next(scores)))
    search = search_with(scripted_llm, client, script, budget=12)
    search.run()
    nodes = search.task.trace.events("node")
    assert len(nodes) == 12
    history: dict[str, list[float]] = {GENERATE: [], IMPROVE: [], FIX: []}
    priors = {GENERATE: 0.5, IMPROVE: 0.55, FIX: 0.5}
    weights = {kind: (0.5, 0.5) for kind in history}
    moved = 0
    for record in nodes:
        vm = record["value_model"]
        kind = vm["action"]
        # v_G is the running mean with the prior counted twice.
        expected_vg = (priors[kind] * 2 + sum(history[kind])) / (2 + len(history[kind]))
        assert vm["v_global"] == pytest.approx(expected_vg)
        w_g, w_l = weights[kind]
        if vm["v_local"] is None:
            assert vm["predicted"] == pytest.approx(vm["v_global"])
            assert (vm["w_global"], vm["w_local"]) == pytest.approx((w_g, w_l))
        else:
            assert vm["predicted"] == pytest.approx(
                (w_g * vm["v_global"] + w_l * vm["v_local"]) / (w_g + w_l)
            )
            moved += (vm["w_global"], vm["w_local"]) != pytest.approx((w_g, w_l))
        weights[kind] = (vm["w_global"], vm["w_local"])
        assert vm["target"] == pytest.approx(record["accuracy"])
        history[kind].append(vm["target"])
    assert moved > 0, "some expansion had a local value and trained the weights"


def test_budget_is_respected_exactly(scripted_llm, client):
    search = search_with(scripted_llm, client, KindScript(generate=lambda m: gen(0.2)), budget=7)
    search.run()
    assert scripted_llm.upstream_calls == 7 == search.task.llm.calls
    assert len(search.nodes) == 8  # the root and one node per call


def test_search_stops_at_the_first_perfect_program(scripted_llm, client):
    script = KindScript(generate=[gen(0.4), gen(1.0, tag="perfect")], improve=[gen(1.0)])
    search = search_with(scripted_llm, client, script, budget=10)
    program = search.run()
    assert search.task.llm.calls == 2 and search.solved
    assert "# tag perfect" in program
    tree = search.task.trace.events("tree")[-1]
    assert tree["solved"] and tree["n_nodes"] == 2 and tree["best_accuracy"] == 1.0


def test_best_program_is_returned_when_the_budget_ends(scripted_llm, client):
    scores = iter([0.2, 0.7, 0.1, 0.3, 0.5])
    script = KindScript(
        generate=lambda m: gen(next(scores), tag="g"), improve=lambda m: gen(next(scores))
    )
    search = search_with(scripted_llm, client, script, budget=5)
    program = search.run()
    assert "# score 0.7" in program


def test_same_seed_same_answers_same_tree(scripted_llm, client):
    def run_once(seed: int) -> tuple[list[dict], str]:
        scores = iter([0.3, 0.3, 0.3, 0.5, 0.5, 0.2, 0.2, 0.4, 0.4, 0.1])
        script = KindScript(
            generate=lambda m: gen(next(scores)),
            improve=lambda m: gen(next(scores), raises=True),
            fix=lambda m: gen(next(scores)),
        )
        search = search_with(scripted_llm, client, script, budget=10, seed=seed)
        program = search.run()
        tree = search.task.trace.events("tree")[-1]["nodes"]
        return tree, program

    assert run_once(3) == run_once(3)
