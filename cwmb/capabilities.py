"""Capabilities a method declares: access beyond the description, interface and train split.

A method module may say, at its top level,

    CAPABILITIES = {"references"}

The host reads that line from the module's syntax tree, so no code of the method runs on the host
(a method registered through an entry point has no module the host reads: it declares nothing).
Each capability widens what the method's job container (or confined process) can see, and every
run records it (manifest, score.json, summary.csv, report), so a number obtained with it is never
mistaken for a fair one. Known capabilities:

- `references`: the environments' reference programs and scoring masks, with the simulators they
  run on (what the `oracle` method returns)."""

from __future__ import annotations

import ast
from pathlib import Path

from cwmb.errors import CwmbError
from cwmb.runner import method_file

REFERENCES = "references"
KNOWN = {REFERENCES: "reads the reference programs and the simulators they run on"}
DECLARATION = "CAPABILITIES"


def parse_capabilities(source: str, where: str) -> frozenset[str]:
    """The capabilities a module's source declares (none when it has no declaration)."""
    try:
        tree = ast.parse(source, filename=where)
    except SyntaxError as exc:
        raise CwmbError(f"{where} is not valid Python: {exc.msg} (line {exc.lineno})") from exc
    found: frozenset[str] = frozenset()
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else []
        if isinstance(node, ast.AnnAssign):
            targets = [node.target]
        if not any(isinstance(t, ast.Name) and t.id == DECLARATION for t in targets):
            continue
        value = getattr(node, "value", None)
        try:
            names = ast.literal_eval(value) if value is not None else None
        except ValueError:
            names = None
        if not isinstance(names, set | frozenset | list | tuple) or not all(
            isinstance(name, str) for name in names
        ):
            raise CwmbError(
                f"{where}: {DECLARATION} must be a literal set of strings, e.g. "
                f'{DECLARATION} = {{"{REFERENCES}"}}'
            )
        unknown = sorted(set(names) - set(KNOWN))
        if unknown:
            raise CwmbError(
                f"{where}: unknown capability {', '.join(map(repr, unknown))} "
                f"(known: {', '.join(sorted(KNOWN))})"
            )
        found = frozenset(names)
    return found


def method_capabilities(method: str) -> frozenset[str]:
    """What METHOD declares, read from its source without importing it."""
    path = method_file(method)
    if path is None:
        return frozenset()
    return parse_capabilities(Path(path).read_text(encoding="utf-8"), str(path))
