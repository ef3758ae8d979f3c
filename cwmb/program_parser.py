"""Getting a program out of an LLM's answer, and growing partial programs line by line.

`extract_program` takes the last complete fenced code block (preferring one that defines
`class Environment`), tolerates an answer cut off inside its last block, and accepts bare code
without fences. `continue_partial` and `grow` serve GIF-MCTS, where a node holds the first lines
of a program and a child adds L more."""

from __future__ import annotations

import re
from dataclasses import dataclass

# An opening fence: three or more backticks (or tildes), an optional language tag, end of line.
_FENCE = re.compile(r"^[ \t]*(`{3,}|~{3,})[ \t]*([\w+.-]*)[^\n`]*$")
_CODE_START = re.compile(
    r"^(import |from |class |def |@|#|if __name__|[A-Za-z_][A-Za-z_0-9]*\s*=|\"\"\"|''')"
)
_DEFINES_ENVIRONMENT = re.compile(r"^\s*class\s+Environment\b", re.MULTILINE)


@dataclass(frozen=True)
class CodeBlock:
    code: str
    complete: bool  # closed by a fence (False: the answer ended inside the block)


def code_blocks(text: str) -> list[CodeBlock]:
    """Every fenced block of `text`, in order; a final unclosed block is marked incomplete."""
    blocks: list[CodeBlock] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        opening = _FENCE.match(lines[i])
        if not opening:
            i += 1
            continue
        fence = opening.group(1)
        body: list[str] = []
        i += 1
        closed = False
        while i < len(lines):
            if lines[i].strip().startswith(fence[0] * len(fence)) and not lines[i].strip().strip(
                fence[0]
            ):
                closed = True
                i += 1
                break
            body.append(lines[i])
            i += 1
        blocks.append(CodeBlock("\n".join(body), closed))
    return blocks


def _bare_code(text: str) -> str:
    """Text without fences: drop leading prose up to the first line that looks like Python."""
    lines = text.splitlines()
    for start, line in enumerate(lines):
        if _CODE_START.match(line):
            return "\n".join(lines[start:])
    return text


def extract_program(text: str) -> str:
    """The program in an LLM answer (an empty string when there is none).

    Order of preference: the last complete block that defines `class Environment`; the last
    complete block; an unfinished final block (the answer hit its token limit); the bare text."""
    blocks = code_blocks(text)
    complete = [b for b in blocks if b.complete and b.code.strip()]
    defining = [b for b in complete if _DEFINES_ENVIRONMENT.search(b.code)]
    if defining:
        chosen = defining[-1].code
    elif complete:
        chosen = complete[-1].code
    elif blocks:
        chosen = blocks[-1].code
    else:
        chosen = _bare_code(text)
    return chosen.strip("\n").rstrip() + "\n" if chosen.strip() else ""


def _first_code_line(text: str) -> str | None:
    return next((line.strip() for line in text.splitlines() if line.strip()), None)


def continue_partial(partial: str, code: str) -> str:
    """The complete program a generate answer implies for the partial program `partial`.

    We ask the model to restate the given lines and go on; if its code starts like `partial`
    it is taken as the whole program, otherwise it is taken as the continuation of `partial`."""
    if not partial.strip():
        return code
    if not code.strip():
        return partial
    if _first_code_line(code) == _first_code_line(partial):
        return code
    return partial.rstrip("\n") + "\n" + code


# The partial program of GIF-MCTS's root, as the authors' tree holds it (an empty program joined
# to empty code by a newline): it counts as two lines.
ROOT_PARTIAL = "\n"


def grow(program: str, partial: str, new_lines: int) -> tuple[str, int]:
    """A child's partial program cut from `program`, counting lines as the authors' parser does.

    `partial` is the parent's partial program. The cut keeps the first
    (lines of `partial`) + `new_lines` lines of `program` (stripped; blank lines count; "lines of"
    is the number of pieces `split("\n")` makes, so a partial's leading newline counts too) and
    prefixes a newline, as the authors' node code does. Returns (that partial program, how many
    lines it has beyond the parent's count); fewer than `new_lines` means the program ended
    first (the node is terminal). In effect a depth-1 node holds 4 lines and each level adds 3
    when new_lines = 2."""
    base = len(partial.split("\n"))
    lines = program.strip().split("\n")[: base + new_lines]
    return "\n" + "\n".join(lines), len(lines) - base
