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
from cwmb.scoring import SplitScore

SPLIT_CHOICES = ("train", "heldout", "paper", "all")
ALL_SPLITS = ("train", "heldout", "paper")  # `all`: each of these the environment has


def splits_of(spec: registry.EnvSpec, choice: str) -> list[str]:
    """The splits `--split choice` names for `spec` (`paper` only where the authors published one)."""
    if choice == "all":
        return [split for split in ALL_SPLITS if split in spec.datasets]
    spec.split_path(choice)  # one clear error for a split the environment lacks
    return [choice]


def score(args: argparse.Namespace) -> int:
    spec = registry.get(args.env)
    label, source = program_source(args, spec)
    executor = get_executor(args.isolation)
    scores = score_program(spec, source, splits_of(spec, args.split), executor)
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


def _reference_verdict(spec: registry.EnvSpec, split: str, s: SplitScore) -> str | None:
    """None if the reference is as it should be on `split`, else what is wrong.

    The reference must be exact on our own splits. On the `paper` split it must be exact unless
    env.toml's [dataset.paper] names the gap (`reference_gap`): then it is reported, not failed."""
    gap = spec.datasets[split].get("reference_gap") if split == "paper" else None
    if s.solved:
        return None if gap is None else f"{split} is now exact although env.toml expects: {gap}"
    if gap is not None:
        return None
    first = s.first_mismatch if s.first_mismatch else s.error
    return f"reference not perfect on {split}; first mismatch: {first}"


def _verify_line(spec: registry.EnvSpec, split: str, s: SplitScore) -> str:
    text = f"{split} {s.accuracy:.4f} ({s.n_transitions})"
    gap = spec.datasets[split].get("reference_gap") if split == "paper" else None
    if split == "paper":
        text += " exact" if s.solved else f" not exact: {gap}"
    return text


def verify(args: argparse.Namespace) -> int:
    """Checksums match and the reference scores 1.0 on every split (on `paper`: or the gap is
    documented)."""
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
        line = "; ".join(_verify_line(spec, split, s) for split, s in scores.items())
        verdicts = [v for split, s in scores.items() if (v := _reference_verdict(spec, split, s))]
        if verdicts:
            problems.append(spec.id)
            print(f"FAIL {spec.id}: {verdicts[0]}; reference accuracy {line}")
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
    parser.add_argument("--split", choices=SPLIT_CHOICES, default="all")
    add_isolation_option(parser)
    parser.add_argument("--json", action="store_true")
    parser.set_defaults(handler=score)
    parser = subparsers.add_parser(
        "verify",
        help="checksums + every reference scores 1.0 on our splits; on `paper`, exact or why not",
    )
    parser.add_argument("envs", nargs="*", metavar="ENV")
    add_isolation_option(parser)
    parser.set_defaults(handler=verify)
