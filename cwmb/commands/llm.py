"""`cwmb llm check`: one short request through the path a bench uses (gateway, job token, cache)."""

from __future__ import annotations

import argparse
import json
import time

from cwmb.llm.cache import CacheMode
from cwmb.llm.client import LlmClient
from cwmb.llm.gateway import Gateway
from cwmb.llm.options import add_cache_option, add_model_options, cache_from_args, model_from_args
from cwmb.llm.upstream import RetryPolicy

CHECK_JOB = "llm-check"
CHECK_PROMPT = "Answer in one short sentence: what is a world model in reinforcement learning?"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("llm", help="check the LLM setup")
    sub = parser.add_subparsers(dest="llm_command", required=True, metavar="ACTION")
    check = sub.add_parser(
        "check", help="send one short request through the gateway, as a bench would"
    )
    add_model_options(check)
    add_cache_option(check)
    check.add_argument("--prompt", default=CHECK_PROMPT, help="the question to send")
    check.add_argument(
        "--max-tokens", type=int, default=48, help="answer length limit (default: 48)"
    )
    check.add_argument(
        "--budget", type=int, default=1, help="LLM calls the check's job may make (default: 1)"
    )
    check.add_argument("--json", action="store_true", help="print the result as JSON")
    check.set_defaults(handler=run_check)


def run_check(args: argparse.Namespace) -> int:
    spec = model_from_args(args)
    cache = cache_from_args(args)
    # A check should fail fast on a dead endpoint rather than back off for a minute.
    retry = RetryPolicy(attempts=2, base_delay_s=0.5)
    with cache, Gateway(spec, cache=cache, retry=retry) as gateway:
        load_s = None
        if spec.is_local and cache.mode is not CacheMode.REPLAY:  # a replay never needs it
            start = time.perf_counter()
            gateway.warm()
            load_s = time.perf_counter() - start
        token = gateway.add_job(CHECK_JOB, budget=args.budget)
        with LlmClient.from_environment(gateway.job_environment(token)) as client:
            answer = client.complete(
                [{"role": "user", "content": args.prompt}], max_tokens=args.max_tokens
            )
    result = {
        "model": spec.id,
        "endpoint": spec.base_url or "embedded (llama.cpp, in the gateway)",
        "cache": cache.mode.value,
        "cache_hit": bool(answer.cache_hit),
        "latency_s": round(answer.latency_s, 4),
        "model_load_s": None if load_s is None else round(load_s, 3),
        "prompt_tokens": answer.prompt_tokens,
        "completion_tokens": answer.completion_tokens,
        "answer": answer.text,
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"model:       {result['model']}  ({result['endpoint']})")
    load = f"  (model load {load_s:.2f} s)" if load_s is not None else ""
    print(f"latency:     {answer.latency_s * 1000:.1f} ms{load}")
    print(f"tokens:      {answer.prompt_tokens} in, {answer.completion_tokens} out")
    print(f"cache:       {'hit' if answer.cache_hit else 'miss'} (mode {cache.mode.value})")
    text = " ".join(answer.text.split())
    print(f"answer:      {text[:200]}{'...' if len(text) > 200 else ''}")
    return 0
