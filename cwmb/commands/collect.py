"""`cwmb collect ENV`: recreate datasets (the same bytes as shipped)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cwmb import registry
from cwmb.collect import RECIPES, SPLIT_SEEDS, collect, main_progress
from cwmb.numerics import kernels_pinned, restart_with_pinned_kernels


def run(args: argparse.Namespace) -> int:
    if not kernels_pinned():  # the same bytes on every CPU (see cwmb.numerics)
        if args.own_process:
            restart_with_pinned_kernels(sys.argv[1:])
        print("cwmb collect: BLAS kernels not pinned; bytes may differ by CPU", file=sys.stderr)
    env_ids = registry.env_ids() if args.envs == ["all"] else args.envs
    specs = [registry.get(env_id) for env_id in env_ids]  # fail on a bad id before any work
    for spec in specs:
        out = None if args.out is None else (args.out / spec.id if len(specs) > 1 else args.out)
        manifest = collect(
            spec, args.split, out, progress=main_progress, recipe=args.recipe, first=args.first
        )
        for split in args.split:
            entry = manifest["splits"][split]
            print(
                f"{spec.id} {split}: {entry['transitions']} transitions in {entry['episodes']} episodes, "
                f"sha256 {entry['sha256'][:16]}"
            )
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("collect", help="record datasets with the seeded procedure")
    parser.add_argument("envs", nargs="+", metavar="ENV", help="environment ids, or `all`")
    parser.add_argument("--split", nargs="+", choices=list(SPLIT_SEEDS), default=list(SPLIT_SEEDS))
    parser.add_argument(
        "--out",
        type=Path,
        help="write here instead of the shipped location (env.toml is then left alone)",
    )
    parser.add_argument(
        "--recipe",
        choices=RECIPES,
        help="record by this recipe (default: the one each split was recorded with; see README)",
    )
    parser.add_argument(
        "--first",
        type=int,
        metavar="N",
        help="record only the first N episodes of each split (a spot check; needs --out)",
    )
    parser.set_defaults(handler=run)
