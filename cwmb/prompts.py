"""The three requests every method makes of an LLM, written once and shared by all runners.

- generate: write the world model from the environment's description (optionally continuing the
  first lines of a program, for GIF-MCTS);
- improve: a program runs but mispredicts a recorded transition: here are the input, the expected
  and the predicted output; explain the mistake, then write the corrected program;
- fix: a program raises: here are the error and its traceback; explain, then correct.

Each builder returns chat messages (a list of {"role", "content"} dicts). The wording is this
project's own."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from cwmb.registry import EnvSpec, SpaceFormat

Message = dict[str, str]

SYSTEM = (
    "You are an expert Python programmer and reinforcement-learning researcher. You write exact "
    "simulators (code world models) of environments from their written specification. You answer "
    "with complete, runnable Python programs in a single fenced code block."
)

CONTRACT = """\
The program must define this class (other helper functions and classes are welcome):

```python
class Environment:
    def __init__(self):
        ...  # no arguments
    def set_state(self, state):
        ...  # make `state` (an observation) the current state
    def step(self, action):
        ...  # apply `action` to the current state, make the result current
        return next_state, reward, done
```

- `reward` is a float; `done` is a bool that is True only when the dynamics end the episode
  (termination), never because a step limit was reached.
- Only the Python standard library and numpy may be imported.
- The program is judged by calling `set_state` and then `step` on recorded transitions and
  comparing `(next_state, reward, done)` with what really happened."""

_MAX_ERROR_CHARS = 3000
_MAX_VALUES = 400


def _runtime_type(fmt: SpaceFormat, what: str) -> str:
    if fmt.type == "discrete":
        return f"`{what}` is a Python int"
    if fmt.type == "tuple":
        return f"`{what}` is a tuple of {fmt.size} Python ints"
    shape = "x".join(str(d) for d in fmt.shape) or "scalar"
    return f"`{what}` is a numpy array of shape ({shape}) and dtype {fmt.dtype}"


def interface_text(spec: EnvSpec) -> str:
    """The contract, with the run-time types of states and actions of `spec`."""
    return (
        f"{CONTRACT}\n- At run time {_runtime_type(spec.observation, 'state')} and "
        f"{_runtime_type(spec.action, 'action')}; return `next_state` in the same layout as "
        "`state`."
    )


def format_value(value: Any) -> str:
    """A state, action or prediction as compact text (floats to 8 significant digits)."""
    if value is None or isinstance(value, str | bool | np.bool_):
        return str(value if not isinstance(value, np.bool_) else bool(value))
    try:
        array = np.asarray(value)
    except (TypeError, ValueError):
        return repr(value)[:2000]
    if array.ndim == 0:
        return _number(array.item())
    flat = [_number(v) for v in np.ravel(array)[:_MAX_VALUES]]
    more = ", ..." if array.size > _MAX_VALUES else ""
    return "[" + ", ".join(flat) + more + "]"


def _number(value: Any) -> str:
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    if isinstance(value, float | np.floating):
        text = f"{float(value):.8g}"
        # Keep floats recognizable as floats: -100.0, not -100.
        return text if any(c in text for c in ".enai") else text + ".0"
    return str(value)


def _differences(mismatch: Mapping[str, Any]) -> str:
    expected, predicted = mismatch["expected"], mismatch["predicted"]
    parts = []
    want = np.ravel(np.asarray(expected["next_state"], dtype=float))
    try:
        got = np.ravel(np.asarray(predicted.get("next_state"), dtype=float))
    except (TypeError, ValueError):
        got = np.array([])
    if mismatch["expected"]["done"]:
        pass  # the next state of a terminal transition is not judged
    elif got.shape != want.shape:
        parts.append("the next state has the wrong size or type")
    else:
        wrong = np.flatnonzero(~np.isclose(got, want, rtol=1e-5, atol=1e-5))
        if wrong.size:
            parts.append(
                "next state element(s) " + ", ".join(str(i) for i in wrong[:20]) + " differ"
            )
    if predicted.get("reward") != expected["reward"]:
        parts.append("the reward differs")
    if predicted.get("done") != expected["done"]:
        parts.append("`done` differs")
    return "; ".join(parts) or "the values differ within rounding"


def format_transition(mismatch: Mapping[str, Any]) -> str:
    """The input, the recorded outcome and the program's prediction for one transition."""
    expected, predicted = mismatch["expected"], mismatch["predicted"]
    return (
        f"Input:\n  state = {format_value(mismatch['state'])}\n"
        f"  action = {format_value(mismatch['action'])}\n"
        f"Recorded outcome:\n  next_state = {format_value(expected['next_state'])}\n"
        f"  reward = {format_value(expected['reward'])}\n"
        f"  done = {format_value(expected['done'])}\n"
        f"Your program's prediction:\n  next_state = {format_value(predicted.get('next_state'))}\n"
        f"  reward = {format_value(predicted.get('reward'))}\n"
        f"  done = {format_value(predicted.get('done'))}\n"
        f"What is wrong: {_differences(mismatch)}."
    )


def _task_header(description: str, interface: str) -> str:
    return (
        "# Environment to simulate\n\n"
        f"{description.strip()}\n\n"
        "# What to write\n\n"
        f"{interface.strip()}\n"
    )


def _code_block(program: str) -> str:
    return f"```python\n{program.rstrip()}\n```"


def _conversation(user: str) -> list[Message]:
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]


def generate_messages(description: str, interface: str, partial: str = "") -> list[Message]:
    """Ask for a complete program; with `partial`, ask to continue those first lines."""
    if partial.strip():
        request = (
            "\n# Your task\n\nThe program has been started; its first lines are below. Write the "
            "complete program: repeat these lines exactly as they are, then continue until the "
            "simulator is finished. Answer with the whole program in one Python code block.\n\n"
            f"{_code_block(partial)}\n"
        )
    else:
        request = (
            "\n# Your task\n\nWrite the complete Python program that simulates this environment "
            "exactly. Answer with the whole program in one Python code block.\n"
        )
    return _conversation(_task_header(description, interface) + request)


def improve_messages(
    description: str, interface: str, program: str, mismatch: Mapping[str, Any]
) -> list[Message]:
    """Show one mispredicted transition and ask for an explanation, then a corrected program."""
    request = (
        "\n# Your program\n\n"
        f"{_code_block(program)}\n\n"
        "# A transition it gets wrong\n\n"
        f"{format_transition(mismatch)}\n\n"
        "# Your task\n\nFirst explain in a few sentences, under the heading `## Error "
        "explanation`, which rule of the environment the program gets wrong and why. Then, under "
        "the heading `## Corrected program`, write the complete corrected program in one Python "
        "code block.\n"
    )
    return _conversation(_task_header(description, interface) + request)


def trim_error(error: str, limit: int = _MAX_ERROR_CHARS) -> str:
    """An error text for a prompt: traceback frames of the harness removed (only the program's
    own frames say something to the model), and only the end kept when it is long."""
    kept: list[str] = []
    skipping = False
    for line in error.strip().splitlines():
        if line.startswith('  File "'):
            skipping = 'File "program.py"' not in line
        elif skipping and line.startswith("    "):
            continue  # the source line of a skipped frame
        else:
            skipping = False
        if not skipping:
            kept.append(line)
    text = "\n".join(kept)
    return text if len(text) <= limit else "...\n" + text[-limit:]


def fix_messages(
    description: str,
    interface: str,
    program: str,
    error: str,
    mismatch: Mapping[str, Any] | None = None,
) -> list[Message]:
    """Show the error a program raised (with the input that caused it, when known) and ask for an
    explanation, then a corrected program."""
    trigger = ""
    if mismatch is not None:
        trigger = (
            "It was raised while simulating this input:\n"
            f"  state = {format_value(mismatch['state'])}\n"
            f"  action = {format_value(mismatch['action'])}\n\n"
        )
    request = (
        "\n# Your program\n\n"
        f"{_code_block(program)}\n\n"
        "# The error it raises\n\n"
        f"{trigger}```\n{trim_error(error)}\n```\n\n"
        "# Your task\n\nFirst explain in a few sentences, under the heading `## Error "
        "explanation`, what causes this error. Then, under the heading `## Corrected program`, "
        "write the complete corrected program in one Python code block.\n"
    )
    return _conversation(_task_header(description, interface) + request)
