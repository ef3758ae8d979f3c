"""How the embedded backend turns a chat request into a document a base model continues, and how
its continuation becomes a program (cwmb/llm/base_prompt.py)."""

from __future__ import annotations

from cwmb import registry
from cwmb.llm.base_prompt import (
    CODE_OPENING,
    SKELETON,
    STEP_RETURN,
    TOY_DESCRIPTION,
    finish_program,
    is_code_request,
    longest_parsing_prefix,
    render_code_request,
    trailing_code,
)
from cwmb.llm.local import render
from cwmb.program_parser import extract_program
from cwmb.prompts import generate_messages, improve_messages, interface_text

SPEC = registry.get("CliffWalking-v1")
DESCRIPTION = SPEC.description_path.read_text()
INTERFACE = interface_text(SPEC)


def test_a_generate_request_gets_example_request_and_opened_skeleton() -> None:
    messages = generate_messages(DESCRIPTION, INTERFACE)
    assert is_code_request(messages)
    rendered = render(messages)
    prompt = rendered.prompt
    # The toy example comes first, complete and closed, then the real request, then the skeleton.
    toy = prompt.index("RoomHeater-v0")
    assert toy < prompt.index("# CliffWalking-v1")
    assert prompt.endswith(CODE_OPENING + SKELETON)
    assert rendered.opening == SKELETON
    assert "CliffWalking" not in TOY_DESCRIPTION and "```" in rendered.stop
    assert "\n    def " in rendered.stop  # generation ends where the step body ends


def test_a_request_ending_in_code_is_continued_from_that_code() -> None:
    partial = "import numpy as np\n\nclass Environment:\n    def __init__(self):\n"
    messages = generate_messages(DESCRIPTION, INTERFACE, partial=partial)
    code = render_code_request(messages)
    assert code.opening == partial and code.prompt.endswith(CODE_OPENING + partial)
    assert trailing_code("text\n```python\nx = 1\n```\n\n") == "x = 1\n"
    assert trailing_code("```python\nx = 1\n```\nthen prose") is None


def test_an_improve_request_reopens_the_skeleton_not_the_shown_program() -> None:
    mismatch = {
        "state": 36,
        "action": 1,
        "expected": {"next_state": 36, "reward": -100.0, "done": False},
        "predicted": {"next_state": 37, "reward": -1.0, "done": False},
    }
    program = "class Environment:\n    pass\n"
    messages = improve_messages(DESCRIPTION, INTERFACE, program, mismatch)
    assert render_code_request(messages).opening == SKELETON
    assert is_code_request(messages)


def test_plain_questions_and_descriptions_alone_are_not_code_requests() -> None:
    question = [{"role": "user", "content": DESCRIPTION + "\n\nWhich reward does a cliff give?"}]
    assert not is_code_request(question)  # the description shows code, the question asks none
    assert render(question).opening is None


def test_the_worked_example_is_short_enough_to_leave_room() -> None:
    prompt = render(generate_messages(DESCRIPTION, INTERFACE)).prompt
    without = render(generate_messages(DESCRIPTION, INTERFACE), with_example=False).prompt
    assert "RoomHeater" not in without and len(prompt) - len(without) < 6000


def test_a_step_body_is_cut_at_the_next_method_and_closed() -> None:
    body = "        reward = -1.0\n    def step(self, action):\n        junk(\n"
    program = extract_program(finish_program(SKELETON, body))
    assert program == SKELETON + "        reward = -1.0\n" + STEP_RETURN
    compile(program, "p", "exec")


def test_a_body_with_its_own_return_keeps_it() -> None:
    body = (
        "        if state == 47:\n            done = True\n        return next_state, -1.0, done\n"
    )
    assert extract_program(finish_program(SKELETON, body)) == SKELETON + body


def test_a_cut_off_body_loses_its_unfinished_tail() -> None:
    body = "        reward = -1.0\n        next_state = np.array([1,\n"
    program = extract_program(finish_program(SKELETON, body))
    assert program == SKELETON + "        reward = -1.0\n" + STEP_RETURN


def test_errors_the_parser_alone_misses_are_dropped() -> None:
    code = "x = 1\nf(p=1, p=2)\n"  # a repeated keyword: ast.parse accepts it, compile does not
    assert longest_parsing_prefix(code) == "x = 1\n"
    assert longest_parsing_prefix("def f(:\n") == ""


def test_a_continuation_of_other_code_is_only_trimmed() -> None:
    opening = "import math\n"
    answer = finish_program(opening, "class Environment:\n    pass\nbroken(\n")
    assert extract_program(answer) == "import math\nclass Environment:\n    pass\n"
