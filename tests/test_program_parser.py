"""Extracting programs from LLM answers and growing partial programs (GIF-MCTS's L lines)."""

from __future__ import annotations

from cwmb.program_parser import ROOT_PARTIAL, code_blocks, continue_partial, extract_program, grow

ENV = "class Environment:\n    pass"


def test_last_complete_block_wins():
    answer = f"First try:\n```python\nx = 1\n```\nBetter:\n```python\n{ENV}\n```\nDone."
    assert extract_program(answer) == ENV + "\n"


def test_a_block_defining_environment_beats_a_later_snippet():
    answer = f"```python\n{ENV}\n```\nUse it like this:\n```python\nenv = Environment()\n```"
    assert extract_program(answer) == ENV + "\n"


def test_explanation_snippets_before_the_corrected_program_are_ignored():
    answer = (
        "## Error explanation\nThe line `x = 1` in\n```python\nx = 1\n```\nis wrong.\n"
        f"## Corrected program\n```python\n{ENV}\n    # fixed\n```\n"
    )
    assert extract_program(answer).endswith("# fixed\n")


def test_an_answer_cut_inside_its_block_keeps_the_partial_code():
    answer = f"Here:\n```python\n{ENV}\n    def step(self, a):\n        return"
    blocks = code_blocks(answer)
    assert len(blocks) == 1 and not blocks[0].complete
    assert extract_program(answer).startswith("class Environment:")


def test_missing_fences_are_tolerated():
    answer = f"Sure! Here is the code.\nimport numpy as np\n{ENV}\n"
    assert extract_program(answer) == f"import numpy as np\n{ENV}\n"


def test_bare_fences_and_tildes():
    assert extract_program(f"```\n{ENV}\n```") == ENV + "\n"
    assert extract_program(f"~~~python\n{ENV}\n~~~") == ENV + "\n"


def test_empty_answers_give_an_empty_program():
    assert extract_program("") == ""
    assert extract_program("```python\n```") == ""


def test_continue_partial_accepts_restatements_and_continuations():
    partial = "import numpy as np\nclass Environment:\n"
    restated = "import numpy as np\nclass Environment:\n    def __init__(self): pass\n"
    assert continue_partial(partial, restated) == restated
    continuation = "    def __init__(self): pass\n"
    assert continue_partial(partial, continuation) == partial + continuation
    assert continue_partial("", restated) == restated
    assert continue_partial(partial, "") == partial


def test_grow_counts_lines_as_the_authors_parser():
    program = "a = 1\nb = 2\n\nc = 3\n\nd = 4\ne = 5\n"
    # The root's partial program "\n" counts as 2 lines: the first child takes 2 + L lines,
    # blank ones included, behind a newline.
    state, added = grow(program, ROOT_PARTIAL, new_lines=2)
    assert state == "\na = 1\nb = 2\n\nc = 3" and added == 2
    # That partial counts 5 lines (its leading newline too): its child takes 7, 3 more.
    state, added = grow(program, state, new_lines=2)
    assert state == "\na = 1\nb = 2\n\nc = 3\n\nd = 4\ne = 5" and added == 2
    # The next cut would need 10 lines; the program has 7: 7 - 8 < 2, a terminal node.
    _, added = grow(program, state, new_lines=2)
    assert added == -1
    # An answer shorter than the partial's count is terminal too.
    assert grow("x = 1\n", state, new_lines=2)[1] < 2
