"""Method options: what a method declares, and `--method-arg KEY=VALUE` checked against it.

A method declares its options as a dataclass named `Options` in its top-level module file
(`runners/<name>.py`, `runners/<name>/__init__.py`, or the same in CWMB_METHODS_PATH):

    @dataclass(frozen=True)
    class Options:
        exploration: float = 5.0  # C of the Beta prior
        selection: Literal["thompson", "sequential"] = "thompson"  # which program to refine

Each field is typed `int`, `float`, `bool`, `str` or `Literal[...]` of strings, has a literal
default, and may carry a comment on its line (shown as its help). The host never imports a
method (submitted methods are untrusted), so it reads this declaration from the module's source
with `ast`, without running it. Inside the job the method's own `Options` class is read the same
way from the class itself (`options_of_class`) and instantiated with the values; the method gets
the instance as `task.options` (None for a method without options).

Methods registered through entry points live in other distributions: the host cannot read their
source, so it passes their keys on unchecked and the job validates them."""

from __future__ import annotations

import ast
import dataclasses
import io
import tokenize
import typing
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cwmb.errors import CwmbError

OPTIONS_CLASS = "Options"
OptionValue = bool | int | float | str
_TYPES: dict[str, type] = {"bool": bool, "int": int, "float": float, "str": str}
_TRUE = ("true", "1", "yes")
_FALSE = ("false", "0", "no")


@dataclass(frozen=True)
class OptionSpec:
    """One declared option."""

    name: str
    type: str  # "bool", "int", "float" or "str"
    default: OptionValue
    choices: tuple[str, ...] | None = None  # for Literal["a", "b"] options
    help: str = ""

    def parse(self, text: str, method: str) -> OptionValue:
        """`text` as this option's type; a CwmbError naming the type for a bad value."""
        value = text.strip()
        try:
            if self.type == "bool":
                if value.lower() in _TRUE:
                    return True
                if value.lower() in _FALSE:
                    return False
                raise ValueError
            if self.type == "int":
                return int(value)
            if self.type == "float":
                return float(value)
        except ValueError:
            expected = "true/false" if self.type == "bool" else f"an {self.type}"
            if self.type == "float":
                expected = "a float"
            raise CwmbError(
                f"method {method!r}: option {self.name} takes {expected} ({self.type}), "
                f"got {text!r}"
            ) from None
        if self.choices is not None and value not in self.choices:
            raise CwmbError(
                f"method {method!r}: option {self.name} is one of {', '.join(self.choices)}, "
                f"got {text!r}"
            )
        return value

    def describe(self) -> str:
        kind = "|".join(self.choices) if self.choices else self.type
        text = f"{self.name}={format_value(self.default)} ({kind})"
        return f"{text}: {self.help}" if self.help else text


# -- reading a declaration -----------------------------------------------------------------------


def options_of_source(source: str, origin: str) -> list[OptionSpec] | None:
    """The options declared by the module source `source` (None: it has no `Options` class).
    Nothing is executed; a declaration this cannot read is a CwmbError naming `origin`."""
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        raise CwmbError(f"{origin} cannot be parsed: {exc}") from exc
    found = [
        node for node in tree.body if isinstance(node, ast.ClassDef) and node.name == OPTIONS_CLASS
    ]
    if not found:
        return None
    comments = _line_comments(source)
    specs = []
    for statement in found[-1].body:
        if not isinstance(statement, ast.AnnAssign) or not isinstance(statement.target, ast.Name):
            continue
        name = statement.target.id
        where = f"{origin}: option {name}"
        kind, choices = _annotation(statement.annotation, where)
        if statement.value is None:
            raise CwmbError(f"{where} has no default value")
        try:
            default = ast.literal_eval(statement.value)
        except ValueError:
            raise CwmbError(f"{where}: the default must be a literal value") from None
        specs.append(_checked(name, kind, default, choices, comments.get(statement.lineno, "")))
    return specs


def _annotation(node: ast.expr, where: str) -> tuple[str, tuple[str, ...] | None]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):  # a quoted annotation
        node = ast.parse(node.value, mode="eval").body
    if isinstance(node, ast.Name) and node.id in _TYPES:
        return node.id, None
    if isinstance(node, ast.Subscript) and ast.unparse(node.value).endswith("Literal"):
        elements = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
        choices = [
            e.value for e in elements if isinstance(e, ast.Constant) and isinstance(e.value, str)
        ]
        if choices and len(choices) == len(elements):
            return "str", tuple(choices)
    raise CwmbError(
        f"{where}: type {ast.unparse(node)} is not one of int, float, bool, str, Literal[str...]"
    )


def _line_comments(source: str) -> dict[int, str]:
    comments = {}
    try:
        for token in tokenize.generate_tokens(io.StringIO(source).readline):
            if token.type == tokenize.COMMENT:
                comments[token.start[0]] = token.string.lstrip("#").strip()
    except (tokenize.TokenError, SyntaxError):
        pass
    return comments


def _checked(
    name: str, kind: str, default: Any, choices: tuple[str, ...] | None, help_text: str
) -> OptionSpec:
    expected = _TYPES[kind]
    ok = isinstance(default, expected) and (kind == "bool" or not isinstance(default, bool))
    if kind == "float" and isinstance(default, int) and not isinstance(default, bool):
        default, ok = float(default), True
    if not ok or (choices is not None and default not in choices):
        raise CwmbError(f"option {name}: the default {default!r} is not a valid {kind}")
    return OptionSpec(name, kind, default, choices, help_text)


def options_of_file(path: Path) -> list[OptionSpec] | None:
    try:
        source = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CwmbError(f"cannot read {path}: {exc}") from exc
    return options_of_source(source, str(path))


def options_of_class(cls: type | None) -> list[OptionSpec] | None:
    """The options of an imported `Options` dataclass (inside a job; None for no class)."""
    if cls is None:
        return None
    if not dataclasses.is_dataclass(cls):
        raise CwmbError(f"{cls.__module__}.{OPTIONS_CLASS} is not a dataclass")
    hints = typing.get_type_hints(cls)
    specs = []
    for item in dataclasses.fields(cls):
        hint = hints[item.name]
        if typing.get_origin(hint) is typing.Literal:
            kind, choices = "str", tuple(typing.get_args(hint))
        else:
            kind, choices = getattr(hint, "__name__", str(hint)), None
        if kind not in _TYPES:
            raise CwmbError(f"option {item.name}: type {hint} is not int, float, bool or str")
        specs.append(_checked(item.name, kind, item.default, choices, ""))
    return specs


# -- values ----------------------------------------------------------------------------------------


def parse_assignments(texts: Iterable[str]) -> dict[str, str]:
    """`KEY=VALUE` strings as a dict (the last of repeated keys wins)."""
    found: dict[str, str] = {}
    for text in texts:
        key, sep, value = text.partition("=")
        if not sep or not key.strip():
            raise CwmbError(f"--method-arg takes KEY=VALUE, got {text!r}")
        found[key.strip()] = value
    return found


def resolve(
    method: str, specs: Sequence[OptionSpec] | None, given: Mapping[str, str]
) -> dict[str, OptionValue]:
    """Every option of `method` with its value: the default unless `given` sets it."""
    if specs is None:
        if given:
            raise CwmbError(
                f"method {method!r} declares no options, but got {', '.join(sorted(given))}"
            )
        return {}
    by_name = {spec.name: spec for spec in specs}
    unknown = sorted(set(given) - set(by_name))
    if unknown:
        known = "; ".join(spec.describe() for spec in specs) or "none"
        raise CwmbError(
            f"method {method!r} has no option {', '.join(unknown)}; its options: {known}"
        )
    return {
        spec.name: spec.parse(given[spec.name], method) if spec.name in given else spec.default
        for spec in specs
    }


def changed(
    specs: Sequence[OptionSpec] | None, values: Mapping[str, OptionValue]
) -> dict[str, OptionValue]:
    """The values that differ from their defaults (what identifies a variant)."""
    defaults = {spec.name: spec.default for spec in specs or ()}
    return {k: v for k, v in values.items() if k not in defaults or defaults[k] != v}


def format_value(value: OptionValue) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def describe_values(values: Mapping[str, OptionValue]) -> str:
    """`key=value` pairs, comma-separated, as the summary and the report show them."""
    return ",".join(f"{k}={format_value(v)}" for k, v in sorted(values.items()))


def as_arguments(values: Mapping[str, OptionValue]) -> list[str]:
    """`KEY=VALUE` strings that `resolve` turns back into `values`."""
    return [f"{k}={format_value(v)}" for k, v in sorted(values.items())]


def instantiate(method: str, cls: type | None, values: Mapping[str, OptionValue]) -> Any:
    """The method's `Options` instance with the resolved `values` (inside a job); None without
    a class. Values the class itself rejects (in its __post_init__) are a CwmbError."""
    if cls is None:
        return None
    try:
        return cls(**values)
    except (TypeError, ValueError) as exc:
        raise CwmbError(f"method {method!r}: bad options: {exc}") from exc


# -- the options of a bench's methods --------------------------------------------------------------


@dataclass(frozen=True)
class MethodOptions:
    """The options one method of a run gets."""

    values: dict[str, OptionValue]  # every option, resolved (unchecked: the keys given)
    changed: dict[str, OptionValue]  # those that differ from the defaults
    checked: bool = True  # False for an entry-point method: the job validates its keys

    def arguments(self) -> list[str]:
        """The job's `--method-arg` strings."""
        return as_arguments(self.changed)


def declared_options(method: str) -> tuple[bool, list[OptionSpec] | None]:
    """(readable, options) of METHOD from its module's source, without importing it; an
    entry-point method is not readable on the host."""
    from cwmb.runner import method_file

    path = method_file(method)
    if path is None:
        return False, None
    return True, options_of_file(path)


def for_methods(methods: Sequence[str], texts: Iterable[str]) -> dict[str, MethodOptions]:
    """The options of each method of a run from `--method-arg` strings. With several methods a
    key goes to every method that declares it; a key that none declares is an error."""
    given = parse_assignments(texts)
    declared = {method: declared_options(method) for method in methods}
    if len(methods) != 1:
        claimed = {
            key
            for readable, specs in declared.values()
            for key in ([s.name for s in specs or ()] if readable else given)
        }
        unclaimed = sorted(set(given) - claimed)
        if unclaimed:
            listing = "; ".join(
                f"{m}: {', '.join(s.name for s in specs or ()) or 'none'}"
                for m, (readable, specs) in declared.items()
            )
            raise CwmbError(
                f"no method of this run has option {', '.join(unclaimed)} (options: {listing})"
            )
    result = {}
    for method, (readable, specs) in declared.items():
        if not readable:
            result[method] = MethodOptions(dict(given), dict(given), checked=False)
            continue
        names = {s.name for s in specs or ()}
        mine = given if len(methods) == 1 else {k: v for k, v in given.items() if k in names}
        values = resolve(method, specs, mine)
        result[method] = MethodOptions(values, changed(specs, values))
    return result
