"""`cwmb score` and `cwmb verify`: transition accuracy of a program, and the shipped ground truth."""

from __future__ import annotations

import argparse
import sys

from cwmb import registry
from cwmb.commands._common import (
    add_env_option,
    add_isolation_option,
    add_program_argument,
    fmt,
    print_json,
    program_source,
)
from cwmb.dataset import load_split, sha256_file
from cwmb.errors import CwmbError, DatasetError
from cwmb.evaluation import score_program
from cwmb.sandbox.select import get_executor

SPLITS = {"train": ["train"], "heldout": ["heldout"], "all": ["train", "heldout"]}


def score(args: argparse.Namespace) -> int:
    spec = registry.get(args.env)
    label, source = program_source(args, spec)
    executor = get_executor(args.isolation)
    scores = score_program(spec, source, SPLITS[args.split], executor)
    if args.json:
        print_json(
            {
                "env": spec.id,
                "program": label,
                "isolation": executor.name,
                "splits": {split: s.to_dict() for split, s in scores.items()},
            }
        )
        return 0
    print(f"{spec.id}  program: {label}  (isolation: {executor.name})")
    for split, s in scores.items():
        print(
            f"  {split:<8} accuracy {s.accuracy:.4f}  paper-mode {s.paper_accuracy:.4f}  "
            f"state {fmt(s.state_accuracy, 4)}  "
            f"reward {fmt(s.reward_accuracy, 4)}  done {fmt(s.done_accuracy, 4)}  "
            f"solved {'yes' if s.solved else 'no'}  ({s.n_transitions} transitions)"
        )
        if s.error:
            print(f"    first error: {s.error.strip().splitlines()[-1][:200]}")
    return 0


def verify(args: argparse.Namespace) -> int:
    """Checksums match and the reference scores 1.0 on every split."""
    env_ids = args.envs or registry.env_ids()
    specs = [registry.get(env_id) for env_id in env_ids]
    executor = get_executor(args.isolation, quiet=True)
    problems = []
    for spec in specs:
        try:
            if not spec.datasets:
                raise DatasetError("no datasets recorded (run `cwmb collect`)")
            for split, entry in spec.datasets.items():
                path = spec.split_path(split)
                if not path.is_file():
                    raise DatasetError(f"missing dataset file {path}")
                if sha256_file(path) != entry["sha256"]:
                    raise DatasetError(f"checksum mismatch for {path}")
                load_split(spec, split)
            scores = score_program(spec, spec.reference_source(), list(spec.datasets), executor)
        except CwmbError as exc:
            problems.append(spec.id)
            print(f"FAIL {spec.id}: {exc}")
            continue
        bad = {split: s for split, s in scores.items() if not s.solved}
        line = "  ".join(
            f"{split} {s.accuracy:.4f} ({s.n_transitions})" for split, s in scores.items()
        )
        if bad:
            problems.append(spec.id)
            first = next(iter(bad.values()))
            print(
                f"FAIL {spec.id}: reference not perfect: {line}; first mismatch: "
                f"{first.first_mismatch if first.first_mismatch else first.error}"
            )
        else:
            print(f"ok   {spec.id}: checksums match; reference accuracy {line}")
    if problems:
        print(
            f"{len(problems)} environment(s) failed verification: {', '.join(problems)}",
            file=sys.stderr,
        )
        return 1
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("score", help="accuracy of a program on recorded transitions")
    add_program_argument(parser)
    add_env_option(parser)
    parser.add_argument("--split", choices=list(SPLITS), default="all")
    add_isolation_option(parser)
    parser.add_argument("--json", action="store_true")
    parser.set_defaults(handler=score)
    parser = subparsers.add_parser(
        "verify", help="checksums + every reference scores 1.0 on both splits"
    )
    parser.add_argument("envs", nargs="*", metavar="ENV")
    add_isolation_option(parser)
    parser.set_defaults(handler=verify)
