"""Prompts a *base* model (no chat template, no instruction tuning) continues into a program.

A chat model answers "write the simulator" with a code block; a small base model, shown the same
request as a transcript, mostly rambles. So a code request is rendered as a document in which the
answer is the obvious continuation:

1. one worked example: a toy environment that is not in the benchmark, asked for with the same
   shared wording (`cwmb.prompts`), followed by its complete program;
2. the real request, verbatim;
3. an opened code block holding the start of the program: the class skeleton, or, when the request
   itself ends with the first lines of a program (GIF-MCTS's generate step), those lines.

The model's continuation is cut back to the longest prefix of whole lines that parses as Python, so
an answer that hits its token limit mid-line still loads. Parsing never runs the code.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cwmb.program_parser import code_blocks
from cwmb.prompts import CONTRACT, generate_messages

Json = dict[str, Any]

CODE_FENCE = "```"
CODE_OPENING = "```python\n"
TASK_HEADING = "### Request"
ANSWER_HEADING = "### Answer"
INTRO = (
    "Each request below asks for a Python program; each answer is that program, complete and "
    "runnable, in one code block."
)
# The start of a fresh program; the worked example opens the same way.
SKELETON = """\
import numpy as np


class Environment:
    def __init__(self):
        self.state = None

    def set_state(self, state):
        self.state = state

    def step(self, action):
        state = self.state
        next_state = state
        reward = 0.0
        done = False
"""

# A code request asks for a program or a code block in its last paragraph (the shared prompts end
# so), or ends with code to continue; a description that mentions classes or shows code does not.
_ASKS_FOR_CODE = re.compile(r"code block|\bprogram\b|\bpython\b|\bclass Environment\b", re.I)

TOY_DESCRIPTION = """\
# RoomHeater-v0

## Overview

A room with a heater and a thermostat. Each step the room loses heat to the outside (10 degrees)
in proportion to the difference, and the heater, when on, adds 2 degrees. The aim is to keep the
room near 21 degrees.

## Action space

One integer in {0, 1}: 0 switches the heater off, 1 switches it on.

## Observation space

A numpy array of shape (2,), dtype float32:

| index | meaning | values |
|---|---|---|
| 0 | room temperature (degrees) | any float |
| 1 | heater state (0 off, 1 on) after the previous action | 0.0 or 1.0 |

## Reward

Minus the distance to the target: `-abs(temperature - 21.0)`, on the new temperature.

## Starting state

Temperature uniform in [15, 25], heater off.

## Episode end

Termination (`done = True`): the temperature rises above 30 degrees (the room overheats).
"""

# The toy's program opens exactly as the skeleton does, so the skeleton reads as its pattern.
TOY_PROGRAM = (
    SKELETON
    + """\
        outside, loss, heat, target = 10.0, 0.1, 2.0, 21.0
        temperature = float(state[0])
        heater = 1.0 if int(action) == 1 else 0.0
        temperature += loss * (outside - temperature) + heat * heater
        next_state = np.array([temperature, heater], dtype=np.float32)
        reward = -abs(temperature - target)
        done = temperature > 30.0
        self.state = next_state
        return next_state, float(reward), bool(done)
"""
)

TOY_INTERFACE = (
    f"{CONTRACT}\n- At run time `state` is a numpy array of shape (2) and dtype float32 and "
    "`action` is a Python int; return `next_state` in the same layout as `state`."
)


@dataclass(frozen=True)
class CodePrompt:
    """A rendered code request: the text to continue, and the program start it ends with."""

    prompt: str
    opening: str  # program text already in the prompt; the answer is opening + continuation


def text_of(content: Any) -> str:
    """Message content as text (OpenAI allows a list of typed parts)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return "" if content is None else str(content)


def _last_user_text(messages: Sequence[Json]) -> str:
    users = [m for m in messages if m.get("role") == "user"]
    return text_of(users[-1].get("content")).strip() if users else ""


def is_code_request(messages: Sequence[Json]) -> bool:
    """Whether the last user turn asks, in its last paragraph, for a program or a code block, or
    ends with code to continue."""
    text = _last_user_text(messages)
    last_paragraph = text.rsplit("\n\n", 1)[-1]
    return trailing_code(text) is not None or bool(_ASKS_FOR_CODE.search(last_paragraph))


def trailing_code(text: str) -> str | None:
    """The code of a fenced block that ends `text` (nothing but blanks after it), else None."""
    stripped = text.rstrip()
    if not stripped.endswith(CODE_FENCE):
        return None
    blocks = code_blocks(stripped)
    if not blocks or not blocks[-1].complete or not blocks[-1].code.strip():
        return None
    return blocks[-1].code.rstrip() + "\n"


def _conversation_text(messages: Sequence[Json]) -> str:
    """The request as one text: the system turn, then the turns (labelled when there are several)."""
    turns = [m for m in messages if m.get("role") != "system"]
    system = [text_of(m.get("content")).strip() for m in messages if m.get("role") == "system"]
    if len(turns) == 1:
        body = [text_of(turns[0].get("content")).strip()]
    else:
        body = [
            f"{str(m.get('role', 'user')).capitalize()}:\n{text_of(m.get('content')).strip()}"
            for m in turns
        ]
    return "\n\n".join(part for part in [*system, *body] if part)


def _section(request: str, answer: str) -> str:
    return f"{TASK_HEADING}\n\n{request}\n\n{ANSWER_HEADING}\n\n{CODE_OPENING}{answer}"


def worked_example() -> str:
    """The toy request and its program, closed, as the document's first section."""
    request = _conversation_text(generate_messages(TOY_DESCRIPTION, TOY_INTERFACE))
    return _section(request, TOY_PROGRAM) + CODE_FENCE


def render_code_request(messages: Sequence[Json], with_example: bool = True) -> CodePrompt:
    """The document a base model continues into the requested program."""
    opening = trailing_code(_last_user_text(messages)) or SKELETON
    parts = [INTRO, worked_example()] if with_example else [INTRO]
    prompt = "\n\n".join([*parts, _section(_conversation_text(messages), opening)])
    return CodePrompt(prompt, opening)


def code_stops(opening: str) -> tuple[str, ...]:
    """Where a base model's program ends: the closing fence, the start of another section, and,
    when the opening ends in the `step` body, the next method or class (fill_step_body)."""
    stops = [CODE_FENCE, f"\n{TASK_HEADING}", f"\n{ANSWER_HEADING}"]
    if _in_step_body(opening):
        stops += ["\n    def ", "\nclass ", "\ndef ", "\nif __name__"]
    return tuple(stops)


def longest_parsing_prefix(code: str) -> str:
    """The longest prefix of whole lines of `code` that compiles (empty if none does).

    Compiling checks syntax (including what the parser alone misses, such as a repeated keyword
    argument) and never runs the code. Tries the whole text first, so a good answer costs one
    compile; a cut-off one loses its unfinished tail."""
    lines = code.rstrip().splitlines()
    for end in range(len(lines), 0, -1):
        candidate = "\n".join(lines[:end]) + "\n"
        try:
            compile(candidate, "<program>", "exec", dont_inherit=True)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            continue
        return candidate
    return ""


STEP_RETURN = "        return next_state, reward, done\n"
_METHOD_INDENT = 4


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _in_step_body(opening: str) -> bool:
    """Whether `opening` ends inside the body of `Environment.step` (the skeleton does)."""
    defs = [line.strip() for line in opening.splitlines() if line.lstrip().startswith("def ")]
    return bool(defs) and defs[-1].startswith("def step(") and opening.endswith("\n")


def fill_step_body(continuation: str) -> str:
    """A continuation of an opened `step` body, closed as the skeleton promises: cut where the
    model leaves the method (a line back at method or class level: a second `step`, junk after
    the class), and ended with the skeleton's return when the body does not return itself."""
    body: list[str] = []
    for line in continuation.splitlines():
        if line.strip() and _indent(line) <= _METHOD_INDENT:
            break
        body.append(line)
    while body and not body[-1].strip():
        body.pop()
    ends_with_return = (
        bool(body)
        and body[-1].strip().startswith("return")
        and (_indent(body[-1]) == 2 * _METHOD_INDENT)
    )
    text = "\n".join(body) + "\n" if body else ""
    return text if ends_with_return else text + STEP_RETURN


def finish_program(opening: str, continuation: str) -> str:
    """The program a base model's continuation of `opening` amounts to, as a fenced code block.
    An opened `step` body is closed (fill_step_body); then whole lines that do not compile are
    dropped from the end."""
    if _in_step_body(opening):
        continuation = fill_step_body(continuation)
    program = opening + continuation
    # A body cut off mid-statement compiles once its tail goes; the closing return is re-added.
    compiled = longest_parsing_prefix(program)
    if compiled and compiled != program and _in_step_body(opening):
        candidate = compiled + STEP_RETURN
        compiled = candidate if longest_parsing_prefix(candidate) == candidate else compiled
    return f"{CODE_OPENING}{(compiled or program).rstrip()}\n{CODE_FENCE}"
