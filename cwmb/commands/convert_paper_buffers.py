"""`cwmb convert-paper-buffers`: the one-off conversion of the authors' train buffers into the
`paper` split (see cwmb/paper_split.py). The shipped files were made with it; run it again only to
check them or after the authors publish new buffers."""

from __future__ import annotations

import argparse
from pathlib import Path

from cwmb import registry
from cwmb.paper_split import PAPER_ENVS, convert, paper_env, read_source


def run(args: argparse.Namespace) -> int:
    env_ids = list(PAPER_ENVS) if args.envs == ["all"] else args.envs
    papers = [paper_env(registry.get(env_id).id) for env_id in env_ids]  # bad ids fail first
    for paper in papers:
        spec = registry.get(paper.env_id)
        source = read_source(args.repo, args.commit, paper)
        entry = convert(spec, source, paper)
        print(
            f"{spec.id} paper (from {paper.source_id}): {entry['transitions']} transitions in "
            f"{entry['episodes']} episodes, sha256 {entry['sha256'][:16]}; source sha256 "
            f"{source.sha256[:16]} at {source.commit[:12]}"
        )
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "convert-paper-buffers",
        help="convert the authors' published train buffers into the `paper` split",
    )
    parser.add_argument("envs", nargs="+", metavar="ENV", help="our environment ids, or `all`")
    parser.add_argument(
        "--repo",
        type=Path,
        required=True,
        help="a git clone (bare or not) of github.com/nicoladainese96/code-world-models",
    )
    parser.add_argument("--commit", default="HEAD", help="the commit to read (default: HEAD)")
    parser.set_defaults(handler=run)
