"""`cwmb job`: run one method on one environment with one seed (see cwmb/job.py for the contract).

The host-side bench starts this inside the job's container (or as a local process); it is also
handy by hand, e.g. `cwmb job --method zero-shot --env CartPole-v1 --seed 0 --budget 1 --out /tmp/j
--llm-url http://127.0.0.1:8000/v1`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cwmb.commands._common import add_descriptions_option, add_env_option, add_method_arg_option
from cwmb.job import JobConfig, run_job


def run(args: argparse.Namespace) -> int:
    config = JobConfig(
        method=args.method,
        env_id=args.env,
        seed=args.seed,
        budget=args.budget,
        out=args.out,
        train=args.train,
        descriptions=args.descriptions,
        description_file=args.description_file,
        llm_url=args.llm_url,
        llm_socket=args.llm_socket,
        llm_token=args.llm_token,
        model=args.model,
        method_args=tuple(args.method_arg),
    )
    result = run_job(config, echo=sys.stderr if args.verbose else None)
    tail = f"; error: {result.error}" if result.error else ""
    accuracy = result.info["train_accuracy"]
    print(
        f"{result.info['method']} on {result.info['env']} seed {result.info['seed']}: "
        f"{result.status}, {result.calls} LLM calls, train accuracy "
        f"{'-' if accuracy is None else f'{accuracy:.4f}'}, {result.wall_seconds:.1f}s -> "
        f"{args.out}{tail}"
    )
    return 0 if result.status == "ok" else 1


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "job", help="run one method on one environment with one seed (what `bench` launches)"
    )
    parser.add_argument("--method", required=True, help="method name (runners/<name>.py)")
    add_env_option(parser)
    parser.add_argument("--seed", type=int, default=0, help="seed of the method's RNG (default 0)")
    parser.add_argument(
        "--budget", type=int, required=True, help="number of LLM calls the method may make"
    )
    parser.add_argument("--out", type=Path, required=True, help="output folder of the job")
    parser.add_argument(
        "--train", type=Path, help="train split .npz (default: the shipped train split)"
    )
    add_descriptions_option(parser)
    parser.add_argument(
        "--description-file",
        type=Path,
        help="the text the method gets (default: the shipped description of --descriptions)",
    )
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--llm-url", help="OpenAI-compatible base URL of the LLM gateway")
    where.add_argument("--llm-socket", help="Unix socket of the LLM gateway")
    parser.add_argument("--llm-token", help="the job's gateway token (default: $CWMB_LLM_TOKEN)")
    parser.add_argument("--model", help="model id (default: $CWMB_MODEL or local/gemma-3-270m)")
    add_method_arg_option(parser)
    parser.add_argument("-v", "--verbose", action="store_true", help="echo the log on stderr")
    parser.set_defaults(handler=run)
