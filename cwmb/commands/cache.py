"""`cwmb cache stats|export|import`: inspect the LLM cache and share it between machines."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from cwmb.errors import CwmbError
from cwmb.llm.cache import CacheMode, LlmCache, default_cache_path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("cache", help="inspect, export and import the LLM cache")
    sub = parser.add_subparsers(dest="cache_command", required=True, metavar="ACTION")

    stats = sub.add_parser("stats", help="answers, jobs and tokens stored, per model")
    stats.add_argument("--json", action="store_true", help="print JSON")
    stats.set_defaults(handler=run_stats)

    export = sub.add_parser("export", help="write stored answers as JSON lines")
    export.add_argument("file", help="output file, or - for standard output")
    export.add_argument("--model", help="only this model (provider/name)")
    export.add_argument("--job", help="only this job id (method/env/seed)")
    export.set_defaults(handler=run_export)

    imp = sub.add_parser("import", help="add answers exported on another machine")
    imp.add_argument("file", type=Path, help="a file written by `cwmb cache export`")
    imp.set_defaults(handler=run_import)

    for p in (stats, export, imp):
        p.add_argument(
            "--path",
            type=Path,
            default=None,
            help=f"cache file (default: {default_cache_path()})",
        )


def run_stats(args: argparse.Namespace) -> int:
    with LlmCache(args.path, mode=CacheMode.REPLAY) as cache:
        stats = cache.stats()
    if args.json:
        print(json.dumps(stats, indent=2))
        return 0
    print(f"cache:    {stats['path']} ({stats['bytes'] / 1e6:.2f} MB)")
    print(
        f"answers:  {stats['answers']} for {stats['distinct_requests']} distinct requests, "
        f"{stats['jobs']} jobs"
    )
    for model, entry in sorted(stats["models"].items()):
        print(
            f"  {model}: {entry['answers']} answers, {entry['prompt_tokens']} tokens in, "
            f"{entry['completion_tokens']} out"
        )
    return 0


def run_export(args: argparse.Namespace) -> int:
    with LlmCache(args.path, mode=CacheMode.REPLAY) as cache:
        if args.file == "-":
            count = cache.export_jsonl(sys.stdout, model=args.model, scope=args.job)
        else:
            out = Path(args.file)
            tmp = out.with_name(out.name + ".tmp")
            try:
                with tmp.open("w", encoding="utf-8") as fh:
                    count = cache.export_jsonl(fh, model=args.model, scope=args.job)
                tmp.replace(out)
            except OSError as exc:
                raise CwmbError(f"cannot write {out}: {exc}") from exc
    if args.file != "-":
        print(f"exported {count} answers to {args.file}", file=sys.stderr)
    return 0


def run_import(args: argparse.Namespace) -> int:
    if not args.file.is_file():
        raise CwmbError(f"no such file: {args.file}")
    with LlmCache(args.path, mode=CacheMode.READ_WRITE) as cache:
        try:
            with args.file.open(encoding="utf-8") as fh:
                result = cache.import_jsonl(fh, source=str(args.file))
        except (OSError, UnicodeDecodeError) as exc:
            raise CwmbError(f"cannot read {args.file}: {exc}") from exc
        path = cache.path
    print(
        f"imported {result.added} answers into {path} "
        f"({result.already_present} already present, {result.conflicts} conflicting kept local)"
    )
    return 1 if result.conflicts else 0
