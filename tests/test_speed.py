"""The LLM-as-simulator prompt and answer parser of `cwmb speed` (cwmb/speed_prompt.py)."""

from __future__ import annotations

from cwmb import registry
from cwmb.dataset import load_split
from cwmb.llm.local import wants_code
from cwmb.scoring import score
from cwmb.speed_prompt import Example, answer_text, parse_answer, simulator_messages


def _examples(env: str, count: int) -> tuple[registry.EnvSpec, list[Example]]:
    spec = registry.get(env)
    data = load_split(spec, "train")
    examples = [
        Example(data.obs[i], data.action[i], data.next_obs[i], data.reward[i], data.terminated[i])
        for i in range(count)
    ]
    return spec, examples


def test_messages_hold_description_examples_and_query_but_no_interface() -> None:
    spec, examples = _examples("CartPole-v1", 4)
    messages = simulator_messages(spec.description(), examples[:3], examples[3].state, 1)
    text = "\n".join(m["content"] for m in messages)
    assert "## Observation space" in text and "## Interface" not in text
    assert [m["role"] for m in messages[3:]] == ["user", "assistant"] * 3 + ["user"]
    assert messages[-1]["content"].startswith("Observation: [")
    # The embedded model must not take this for a request for code.
    assert not wants_code(messages)


def test_answers_in_the_example_format_parse_back_and_score_perfectly() -> None:
    spec, examples = _examples("CartPole-v1", 20)
    data = load_split(spec, "train").select(slice(0, 20))
    predictions = [parse_answer(answer_text(e), 4, scalar_state=False) for e in examples]
    assert score(spec, data, predictions).solved


def test_unreadable_parts_are_none_and_score_zero_there() -> None:
    spec, examples = _examples("CartPole-v1", 1)
    assert parse_answer("I cannot say.", 4, False) == {
        "next_state": None,
        "reward": None,
        "done": None,
    }
    partial = parse_answer("Next observation: [1, 2]\nReward: 1.0\nDone: false", 4, False)
    assert partial == {"next_state": None, "reward": 1.0, "done": False}
    data = load_split(spec, "train").select(slice(0, 1))
    assert score(spec, data, [partial]).state_accuracy == 0.0
