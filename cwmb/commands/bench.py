"""`cwmb bench`: run methods on the benchmark (see cwmb/bench/)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cwmb.bench.config import (
    JOB_TIMEOUT_S,
    OUTPUT_QUOTA_BYTES,
    BenchConfig,
    default_budget,
    resolve_envs,
    resolve_methods,
)
from cwmb.bench.end_table import end_table
from cwmb.bench.run import Bench
from cwmb.commands._common import add_descriptions_option, add_method_arg_option
from cwmb.errors import CwmbError
from cwmb.llm.cache import CacheMode
from cwmb.llm.models import select_model
from cwmb.llm.options import (
    add_cache_option,
    add_model_options,
    add_sampling_options,
    sampling_from_args,
)
from cwmb.method_options import for_methods
from cwmb.planning.presets import DEFAULT_PRESET, PRESETS, get_preset
from cwmb.sandbox.select import BACKENDS

QUICK_EPISODES = 2


def run(args: argparse.Namespace) -> int:
    model = select_model(args.model, args.model_base_url)  # fails early on a bad model or URL
    CacheMode.parse(args.cache)
    get_preset(args.preset)
    if args.seeds < 1 or args.jobs < 1:
        raise CwmbError("--seeds and --jobs must be at least 1")
    sampling = sampling_from_args(args)
    budget = args.budget if args.budget is not None else default_budget(model.id, args.quick)
    if budget < 1:
        raise CwmbError("--budget must be at least 1")
    if not args.output_quota > 0:
        raise CwmbError(f"--output-quota must be a positive number of MB, got {args.output_quota}")
    if not args.job_timeout > 0:
        raise CwmbError(
            f"--job-timeout must be a positive number of seconds, got {args.job_timeout}"
        )
    notes = []
    if model.is_local:
        notes.append(
            "local/gemma-3-270m is a tiny base model: this run shows that the pipeline works "
            "on any machine, its scores say nothing about what real models achieve"
        )
        print(f"cwmb: note: {notes[-1]}", file=sys.stderr)
    if args.budget is None and budget != 50:
        notes.append(
            f"budget {budget} LLM calls per job instead of the paper's 50, to fit this machine"
        )
    if args.preset != "paper":
        notes.append(f"planner preset {args.preset!r} (the paper's settings are preset 'paper')")
    methods = resolve_methods(args.method)
    options = for_methods(methods, args.method_arg)  # read from the sources, nothing imported
    config = BenchConfig(
        methods=methods,
        envs=resolve_envs(args.envs, args.quick),
        seeds=args.seeds,
        budget=budget,
        model=model.id,
        model_base_url=model.base_url,
        preset=args.preset,
        episodes=QUICK_EPISODES if args.quick and args.episodes is None else args.episodes,
        isolation=args.isolation,
        cache=args.cache,
        jobs=args.jobs,
        quick=args.quick,
        descriptions=args.descriptions,
        retry_failed=args.retry_failed,
        planning_limit_s=args.planning_timeout,
        job_timeout_s=args.job_timeout,
        output_quota_bytes=int(args.output_quota * 2**20),
        notes=notes,
        sampling=sampling,
        options=options,
    )
    folder = Bench(config, args.out, args.run_id).run()
    print(end_table(folder))
    print(f"results: {folder.root}")
    if not args.no_report:
        from cwmb.commands.report import build_report

        print(f"report: {build_report(folder.root).html}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("bench", help="run methods on the benchmark (resumable)")
    parser.add_argument(
        "--method",
        action="append",
        required=True,
        metavar="M",
        help="method name (repeat for several)",
    )
    add_method_arg_option(parser)
    parser.add_argument(
        "--envs", nargs="+", metavar="ENV", help="environments (default: all with datasets)"
    )
    parser.add_argument("--seeds", type=int, default=1, help="seeds per (method, environment)")
    parser.add_argument(
        "--budget",
        type=int,
        help="LLM calls per job (default: 50, or 3 with the embedded model, 2 with --quick)",
    )
    add_model_options(parser)
    add_descriptions_option(parser)
    add_sampling_options(parser)
    add_cache_option(parser)
    parser.add_argument(
        "--isolation",
        choices=BACKENDS,
        default="auto",
        help="docker (default when an engine and the image are there) or process",
    )
    parser.add_argument("--jobs", type=int, default=1, help="jobs run in parallel")
    parser.add_argument(
        "--preset", default=DEFAULT_PRESET, help=f"planner preset: {', '.join(PRESETS)}"
    )
    parser.add_argument(
        "--episodes", type=int, help="planning episodes per job (default: the preset's)"
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"a small subset: 3 environments, budget 2, {QUICK_EPISODES} planning episodes",
    )
    parser.add_argument(
        "--out", type=Path, default=Path("results"), help="results root (default results/)"
    )
    parser.add_argument(
        "--run-id",
        help="results folder name (default: derived from the settings, so a rerun resumes)",
    )
    parser.add_argument(
        "--planning-timeout",
        type=float,
        default=900.0,
        metavar="S",
        help="wall-clock seconds for planning with one program (slower: no return, N/A)",
    )
    parser.add_argument(
        "--job-timeout",
        type=float,
        default=JOB_TIMEOUT_S,
        metavar="SECONDS",
        help=f"wall-clock seconds for one job's search (default {JOB_TIMEOUT_S}); a job still "
        "running then is stopped and fails",
    )
    parser.add_argument(
        "--output-quota",
        type=float,
        default=OUTPUT_QUOTA_BYTES / 2**20,
        metavar="MB",
        help=f"what one job may write into its output folder (default {OUTPUT_QUOTA_BYTES >> 20}); "
        "a job that writes more is stopped and fails",
    )
    parser.add_argument("--retry-failed", action="store_true", help="rerun jobs that failed")
    parser.add_argument("--no-report", action="store_true", help="skip building the report")
    parser.set_defaults(handler=run)
