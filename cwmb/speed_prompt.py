"""The LLM-as-simulator request of `cwmb speed` (the paper's Table 8 experiment), and its parser.

Like the authors' experiment, the model gets the environment's description, a few recorded
transitions as worked examples, and one (state, action) to step; it answers with the next state,
the reward and the done flag. The examples are chat turns (user: state and action; assistant:
outcome), so the last user turn holds only the query. The description's "Interface" section is
left out: it is about writing a program, which this request does not ask for."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cwmb.prompts import format_value

Message = dict[str, str]

SYSTEM = (
    "You act as the simulator of a reinforcement-learning environment. Given the environment's "
    "description, a state and an action, you answer with the state that follows, the reward of "
    "the step and whether the step ends the episode. Answer in exactly three lines and nothing "
    "else:\nNext observation: [...]\nReward: <number>\nDone: <True or False>"
)

_INTERFACE = re.compile(r"^## Interface\b.*?(?=^## |\Z)", re.MULTILINE | re.DOTALL)
_NEXT = re.compile(r"next\s+observation\W*?(\[[^\]]*\]|[-+0-9.eE]+)", re.IGNORECASE | re.DOTALL)
_REWARD = re.compile(r"reward\s*:\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)", re.IGNORECASE)
_DONE = re.compile(r"done\s*:\s*(true|false)", re.IGNORECASE)
_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


@dataclass(frozen=True)
class Example:
    state: Any
    action: Any
    next_state: Any
    reward: float
    done: bool


def simulator_description(description: str) -> str:
    """The description without its program-writing "Interface" section."""
    return _INTERFACE.sub("", description).strip()


def query_text(state: Any, action: Any) -> str:
    return f"Observation: {format_value(state)}\nAction: {format_value(action)}"


def answer_text(example: Example) -> str:
    return (
        f"Next observation: {format_value(example.next_state)}\n"
        f"Reward: {format_value(float(example.reward))}\nDone: {bool(example.done)}"
    )


def simulator_messages(
    description: str, examples: Sequence[Example], state: Any, action: Any
) -> list[Message]:
    messages: list[Message] = [
        {"role": "system", "content": SYSTEM},
        {
            "role": "user",
            "content": "# The environment\n\n" + simulator_description(description)
            + "\n\nThe next messages are recorded steps of this environment, then the step to "
            "simulate.",
        },
        {"role": "assistant", "content": "Understood. Send the first step."},
    ]  # fmt: skip
    for example in examples:
        messages.append({"role": "user", "content": query_text(example.state, example.action)})
        messages.append({"role": "assistant", "content": answer_text(example)})
    messages.append({"role": "user", "content": query_text(state, action)})
    return messages


def parse_answer(text: str, state_size: int, scalar_state: bool) -> dict[str, Any]:
    """A prediction dict (next_state, reward, done; None where the answer gives no usable value)
    as the metric takes it. A partly readable answer keeps the parts it has."""
    prediction: dict[str, Any] = {"next_state": None, "reward": None, "done": None}
    match = _NEXT.search(text)
    if match:
        values = [float(v) for v in _NUMBER.findall(match.group(1))]
        if len(values) == state_size:
            prediction["next_state"] = values[0] if scalar_state else values
    reward = _REWARD.search(text)
    if reward:
        prediction["reward"] = float(reward.group(1))
    done = _DONE.search(text)
    if done:
        prediction["done"] = done.group(1).lower() == "true"
    return prediction
