"""Candidate programs are formatted before they are scored, as the GIF-MCTS authors did.

Their evaluation (`check_sampled_code` in their simulator) passes every program through
`autopep8.fix_code` with its default options before loading it, and keeps the formatted text as
the program. autopep8 works on the text alone (tokenizer and `compile` for syntax checks): it never
imports or runs the program, so this is safe to do in the job's own process."""

from __future__ import annotations

import autopep8


def format_program(program: str) -> str:
    """`program` as autopep8 (default options, no configuration files) rewrites it.

    A program autopep8 cannot handle is returned unchanged: scoring it then reports its error."""
    if not program.strip():
        return program
    try:
        formatted = autopep8.fix_code(program)
    except Exception:  # autopep8 gives up on some broken sources; scoring will say why
        return program
    return formatted if isinstance(formatted, str) else program
