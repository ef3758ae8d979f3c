"""The shared generate / improve / fix prompts."""

from __future__ import annotations

from cwmb import prompts, registry

MISMATCH = {
    "index": 4,
    "episode": 0,
    "step": 4,
    "state": [0.1, 0.2, 0.3, 0.4],
    "action": 1,
    "expected": {"next_state": [0.1, 0.25, 0.3, 0.4], "reward": 1.0, "done": False},
    "predicted": {"next_state": [0.1, 0.2, 0.3, 0.4], "reward": 0.0, "done": False},
    "error": None,
}


def spec():
    return registry.get("CartPole-v1")


def test_generate_holds_description_contract_and_types():
    s = spec()
    messages = prompts.generate_messages(s.description(), prompts.interface_text(s))
    assert [m["role"] for m in messages] == ["system", "user"]
    text = messages[1]["content"]
    assert s.description().strip()[:200] in text
    assert "class Environment" in text and "set_state" in text
    assert "numpy array of shape (4) and dtype float32" in text
    assert "`action` is a Python int" in text


def test_generate_with_a_partial_program_asks_to_continue_it():
    s = spec()
    text = prompts.generate_messages(s.description(), "contract", "import numpy as np\n")[1][
        "content"
    ]
    assert "```python\nimport numpy as np\n```" in text and "repeat these lines" in text


def test_improve_shows_input_expected_prediction_and_asks_for_an_explanation():
    text = prompts.improve_messages("desc", "contract", "PROGRAM", MISMATCH)[1]["content"]
    assert "PROGRAM" in text
    assert "state = [0.1, 0.2, 0.3, 0.4]" in text and "action = 1" in text
    assert "next_state = [0.1, 0.25, 0.3, 0.4]" in text and "reward = 1.0" in text
    assert "reward = 0.0" in text
    assert "next state element(s) 1 differ" in text and "the reward differs" in text
    assert text.index("## Error explanation") < text.index("## Corrected program")


def test_fix_shows_the_error_without_harness_frames():
    error = (
        "Traceback (most recent call last):\n"
        '  File "/site/cwmb/sandbox/worker.py", line 80, in predict\n'
        "    result = self.env.step(action)\n"
        '  File "program.py", line 7, in step\n'
        "    return self.s[9]\n"
        "IndexError: list index out of range"
    )
    text = prompts.fix_messages("desc", "contract", "PROGRAM", error, {**MISMATCH, "error": error})[
        1
    ]["content"]
    assert 'File "program.py", line 7' in text and "IndexError" in text
    assert "worker.py" not in text
    assert "state = [0.1, 0.2, 0.3, 0.4]" in text
    assert "## Error explanation" in text


def test_values_are_compact_and_floats_stay_floats():
    assert prompts.format_value(-100.0) == "-100.0"
    assert prompts.format_value([1, 2]) == "[1, 2]"
    assert prompts.format_value(0.123456789123) == "0.12345679"
    assert prompts.format_value(None) == "None"
    assert prompts.format_value(list(range(1000))).endswith(", ...]")
