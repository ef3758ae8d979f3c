"""The `cwmb` command. Each sub-command lives in `cwmb/commands/<name>.py` and exposes
`register(subparsers)`; this module only wires them together and turns user errors into one line."""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from cwmb import commands
from cwmb.errors import CwmbError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cwmb", description="Code World Models Benchmark")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"cwmb.commands.{info.name}")
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.own_process = argv is None  # a command may restart this process only when it owns it
    try:
        return int(args.handler(args) or 0)
    except CwmbError as exc:
        print(f"cwmb: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("cwmb: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
