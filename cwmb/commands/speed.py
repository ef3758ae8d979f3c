"""`cwmb speed`: a program's step in the sandbox against an LLM predicting the same transitions
(the paper's Table 8)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from cwmb import registry
from cwmb.commands._common import (
    add_descriptions_option,
    add_env_option,
    add_isolation_option,
    fmt,
    print_json,
    read_program,
)
from cwmb.dataset import atomic_write_bytes
from cwmb.errors import ProgramError
from cwmb.llm.local import show_notice
from cwmb.llm.options import add_model_options, model_from_args
from cwmb.sandbox.select import get_executor
from cwmb.speed import SpeedSettings, measure, stderr_progress
from cwmb.trace import json_ready


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "speed",
        help="time a program's step against an LLM predicting the same transitions (Table 8)",
    )
    add_env_option(parser)
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--program", type=Path, help="a Python file defining class Environment")
    which.add_argument(
        "--reference", action="store_true", help="time the environment's reference (default)"
    )
    add_model_options(parser)
    parser.add_argument(
        "--transitions", type=int, default=5, help="train transitions to predict (default: 5)"
    )
    parser.add_argument(
        "--examples",
        type=int,
        default=3,
        help="other train transitions shown to the LLM as worked examples (default: 3)",
    )
    parser.add_argument("--seed", type=int, default=0, help="which transitions are drawn")
    parser.add_argument(
        "--max-tokens",
        type=int,
        help="answer length limit (default: a quarter more than the longest example answer)",
    )
    add_descriptions_option(parser)
    add_isolation_option(parser)
    parser.add_argument(
        "--out",
        type=Path,
        help="also write the result as JSON here; the report of a results folder shows "
        "RUN/speed/<EnvId>.json beside the paper's Table 8",
    )
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.set_defaults(handler=run_speed)


def run_speed(args: argparse.Namespace) -> int:
    spec = registry.get(args.env)
    if args.program is None:
        label, source = "reference", spec.reference_source()
    else:
        label, source = read_program(args.program)
    if args.max_tokens is not None and args.max_tokens < 1:
        raise ProgramError("--max-tokens must be at least 1")
    model = model_from_args(args)
    if model.is_local:
        show_notice()
    settings = SpeedSettings(
        transitions=args.transitions,
        examples=args.examples,
        seed=args.seed,
        descriptions=args.descriptions,
        max_tokens=args.max_tokens,
    )
    result = measure(
        spec,
        label,
        source,
        model,
        get_executor(args.isolation),
        settings,
        stderr_progress(args.transitions),
    )
    if args.out is not None:
        data = json.dumps(json_ready(result), indent=2, allow_nan=False, default=str) + "\n"
        try:
            atomic_write_bytes(args.out, data.encode())
        except OSError as exc:
            raise ProgramError(f"cannot write {args.out}: {exc}") from exc
    if args.json:
        print_json(result)
    else:
        print(summary(result))
    return 0


def _seconds(value: float) -> str:
    if value >= 1.0:
        return f"{value:.2f} s"
    if value >= 1e-3:
        return f"{value * 1e3:.2f} ms"
    return f"{value * 1e6:.1f} us"


def summary(result: dict[str, Any]) -> str:
    p, llm = result["program_timing"], result["llm_timing"]
    pa, la = result["program_accuracy"], result["llm_accuracy"]
    n_ctx = f"; context {result['n_ctx']} tokens" if result["n_ctx"] else ""
    load = llm["model_load_s"]
    tokens = llm["prompt_tokens"]
    return "\n".join(
        [
            f"{result['env']}: {result['transitions']} train transitions, "
            f"{result['examples']} worked examples for the LLM (seed {result['seed']})",
            f"  program ({result['program']}, {result['isolation']} sandbox): "
            f"{_seconds(p['per_step_s'])} per step inside a request of {p['batch_size']}, "
            f"{_seconds(p['per_request_s'])} per one-step request; "
            f"session start {_seconds(p['session_start_s'])}; accuracy {pa['accuracy']:.4f}",
            f"  LLM ({result['model']}, {result['llm_path']}): "
            f"{_seconds(llm['per_step_s'])} per step (median; mean {_seconds(llm['mean_s'])}); "
            f"prompt {min(tokens)}-{max(tokens)} tokens, answers up to {result['max_tokens']}"
            f"{n_ctx}" + (f"; model load {_seconds(load)}" if load is not None else ""),
            f"  LLM accuracy {la['accuracy']:.4f} (state {fmt(la['state_accuracy'], 4)}, "
            f"reward {fmt(la['reward_accuracy'], 4)}, done {fmt(la['done_accuracy'], 4)})",
            f"  ratio LLM / program step: {result['ratio']:.3g} "
            f"(per one-step request: {result['ratio_per_request']:.3g}); "
            f"machine load {result['machine']['load_average_1min']} on "
            f"{result['machine']['cpus']} CPUs",
        ]
    )
