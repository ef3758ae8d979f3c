"""Helpers shared by sub-commands: common options, program loading, JSON output."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from cwmb import registry
from cwmb.errors import ProgramError
from cwmb.registry import DEFAULT_DESCRIPTION_TIER, DESCRIPTION_TIERS, EnvSpec
from cwmb.sandbox.select import BACKENDS
from cwmb.trace import json_ready


def add_env_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--env", required=True, metavar="ENV", help="environment id (see `cwmb envs`)"
    )


def add_descriptions_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--descriptions",
        choices=DESCRIPTION_TIERS,
        default=DEFAULT_DESCRIPTION_TIER,
        help="description tier: standard (what the Gymnasium docstring says, the paper's "
        "setting; default) or detailed (adds the simulator's equations and constants)",
    )


def add_method_arg_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--method-arg",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="set an option of the method (repeatable; see the method's Options)",
    )


def add_isolation_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--isolation",
        choices=BACKENDS,
        default="auto",
        help="how to run the program (default: docker if an engine answers, else process)",
    )


def add_program_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "program", nargs="?", type=Path, help="a Python file defining class Environment"
    )
    parser.add_argument(
        "--reference", action="store_true", help="use the environment's reference program"
    )


def program_source(args: argparse.Namespace, spec: EnvSpec) -> tuple[str, str]:
    """(label, source) of the program named on the command line."""
    if args.reference == (args.program is not None):
        raise ProgramError("give exactly one of PROGRAM.py or --reference")
    if args.reference:
        return "reference", spec.reference_source()
    path: Path = args.program
    if not path.is_file():
        raise ProgramError(f"program file not found: {path}")
    try:
        return str(path), path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ProgramError(f"cannot read program {path}: {exc}") from exc


def spec_of(env_id: str) -> EnvSpec:
    return registry.get(env_id)


def print_json(data: Any) -> None:
    json.dump(json_ready(data), sys.stdout, indent=2, allow_nan=False, default=str)
    sys.stdout.write("\n")


def fmt(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"
