"""Performance of the LLM layer, measured side by side in one run (`python -m cwmb.perf_llm`).

- gateway overhead: a job process (started with the environment a job gets) makes the same short
  call straight to a scripted OpenAI-compatible server (its own process, like a real endpoint)
  and through the gateway in this process (Unix socket, job token, cache off), in alternating
  rounds (one call each) so both see the same machine load; the median of the paired
  differences is the gateway's cost per call (target: at most 5 ms);
- cache hit: a recorded call replayed through the gateway, end to end and inside the gateway;
- start-up: how long starting and stopping a gateway takes;
- embedded model: tokens per second of local/gemma-3-270m generating code on this machine.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from cwmb.errors import CwmbError
from cwmb.llm.cache import CacheMode, LlmCache
from cwmb.llm.client import LlmClient
from cwmb.llm.gateway import Gateway
from cwmb.llm.models import select_model

OVERHEAD_TARGET_MS = 5.0
MESSAGES = [{"role": "user", "content": "Say ok."}]
WARMUP = 10


def _timed(call: Callable[[], Any]) -> float:
    start = time.perf_counter()
    call()
    return (time.perf_counter() - start) * 1000.0


def _ms(values: list[float]) -> float:
    return round(statistics.median(values), 3)


def _p10(values: list[float]) -> float:
    """The fastest tenth: what a call costs when the machine is not in the way."""
    return round(statistics.quantiles(values, n=10)[0], 3)


@contextlib.contextmanager
def _upstream() -> Iterator[str]:
    """A scripted OpenAI-compatible server in a process of its own, like a real endpoint."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "cwmb.llm.scripted"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdin is not None
    try:
        yield proc.stdout.readline().strip()
    finally:
        proc.stdin.close()
        proc.wait(timeout=30)


def _run_job(gw: Gateway, config: dict[str, Any]) -> dict[str, list[float]]:
    """Run `job_loop` in a child process started the way a job is (the job's environment only)."""
    env = gw.job_environment(gw.add_job("perf"))
    proc = subprocess.run(
        [sys.executable, "-m", "cwmb.perf_llm", "--job", json.dumps(config)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if proc.returncode != 0:
        raise CwmbError(f"perf job failed: {proc.stderr.strip().splitlines()[-1:]}")
    return dict(json.loads(proc.stdout))


def _time_calls(client: LlmClient, n: int) -> list[float]:
    return [_timed(lambda: client.complete(MESSAGES)) for _ in range(n)]


def job_loop(config: dict[str, Any]) -> dict[str, list[float]]:
    """Inside the job process: time calls through the gateway and, when `direct_url` is given,
    the same calls straight to that server, in alternating rounds."""
    out: dict[str, list[float]] = {"gateway": [], "direct": []}
    prompts = [[{"role": "user", "content": p}] for p in config.get("prompts", [])]
    with contextlib.ExitStack() as stack:
        through = stack.enter_context(LlmClient.from_environment())
        clients = {"gateway": through}
        if config.get("direct_url"):
            clients["direct"] = stack.enter_context(
                LlmClient("openai/scripted", base_url=config["direct_url"])
            )
        if prompts:  # one pass over distinct prompts (cache hits), no warm-up beyond the first
            out["gateway"] = [_timed(lambda p=p: through.complete(p)) for p in prompts]  # type: ignore[misc]
            return out
        for client in clients.values():
            for _ in range(WARMUP):
                client.complete(MESSAGES)
        for _ in range(config["rounds"]):
            for name, client in clients.items():
                out[name] += _time_calls(client, config["per_round"])
    return out


def measure_gateway(calls: int = 200, rounds: int | None = None) -> dict[str, Any]:
    """Per-call latency from a job process straight to the upstream and through the gateway."""
    # One call each way per round by default: neighbours share the machine's load of the moment.
    rounds = rounds or calls
    per_round = max(1, calls // rounds)
    with _upstream() as url:
        spec = select_model("openai/scripted", url, env={})
        with Gateway(spec, cache=LlmCache(mode=CacheMode.OFF), host_env={}) as gw:
            times = _run_job(gw, {"direct_url": url, "rounds": rounds, "per_round": per_round})
            inside = [r.latency_ms for r in gw.calls[WARMUP:]]
    direct, gateway = _ms(times["direct"]), _ms(times["gateway"])
    # The median of paired differences resists load that changes during the run.
    overhead = statistics.median(
        g - d for g, d in zip(times["gateway"], times["direct"], strict=True)
    )
    return {
        "calls_each": len(times["direct"]),
        "direct_ms": direct,
        "through_gateway_ms": gateway,
        "overhead_ms": round(overhead, 3),
        "ratio": round(gateway / direct, 3),
        "p10_direct_ms": _p10(times["direct"]),
        "p10_through_gateway_ms": _p10(times["gateway"]),
        "p10_overhead_ms": round(_p10(times["gateway"]) - _p10(times["direct"]), 3),
        "inside_gateway_ms": _ms(inside),
        "target_ms": OVERHEAD_TARGET_MS,
        "within_target": overhead <= OVERHEAD_TARGET_MS,
    }


def measure_cache_hit(calls: int = 200) -> dict[str, Any]:
    """Record `calls` distinct requests, then replay them (replay mode: no upstream call)."""
    prompts = [f"question {i}" for i in range(calls)]
    with tempfile.TemporaryDirectory(prefix="cwmb-perf-") as tmp, _upstream() as url:
        path = Path(tmp) / "cache.sqlite"
        spec = select_model("openai/scripted", url, env={})
        with LlmCache(path) as cache, Gateway(spec, cache=cache, host_env={}) as gw:
            _run_job(gw, {"prompts": prompts})
        with (
            LlmCache(path, CacheMode.REPLAY) as cache,
            Gateway(spec, cache=cache, host_env={}) as gw,
        ):
            times = _run_job(gw, {"prompts": prompts})
            inside = [r.latency_ms for r in gw.calls]
    if not all(r.cache_hit for r in gw.calls):
        raise CwmbError("perf: a replayed call was not a cache hit")
    return {
        "calls": calls,
        "end_to_end_ms": _ms(times["gateway"]),
        "inside_gateway_ms": _ms(inside),
    }


def measure_startup(times: int = 5) -> dict[str, Any]:
    """How long the host waits to start and to stop a gateway, and to open and end one job's
    socket (every job of a bench pays the latter once)."""
    spec = select_model("openai/scripted", "http://127.0.0.1:9/v1", env={})
    starts, stops, opens, ends = [], [], [], []
    for _ in range(times):
        gw = Gateway(spec, host_env={})
        starts.append(_timed(gw.start))
        opens.append(_timed(lambda: gw.add_job("perf")))  # noqa: B023 (called at once)
        ends.append(_timed(lambda: gw.end_job("perf")))  # noqa: B023
        stops.append(_timed(gw.stop))
    return {
        "start_ms": _ms(starts),
        "stop_ms": _ms(stops),
        "job_open_ms": _ms(opens),
        "job_end_ms": _ms(ends),
    }


def measure_embedded(max_tokens: int = 128) -> dict[str, Any]:
    """Tokens per second of the embedded model (needs the `local` extra)."""
    try:
        from cwmb.llm.local import LocalModel

        start = time.perf_counter()
        model = LocalModel()
        load_s = time.perf_counter() - start
    except CwmbError as exc:
        return {"available": False, "reason": str(exc)}
    messages = [
        {
            "role": "user",
            "content": "Write a Python class Environment that simulates a ball falling under gravity.",
        }
    ]
    model.generate(messages, max_tokens=8, seed=0)  # warm-up
    start = time.perf_counter()
    reply = model.generate(messages, max_tokens=max_tokens, seed=1)
    seconds = time.perf_counter() - start
    return {
        "available": True,
        "load_s": round(load_s, 3),
        "prompt_tokens": reply.prompt_tokens,
        "completion_tokens": reply.completion_tokens,
        "seconds": round(seconds, 3),
        "tokens_per_s": round(reply.completion_tokens / seconds, 1) if seconds > 0 else None,
    }


def run(calls: int = 200, embedded: bool = True, quiet: bool = False) -> dict[str, Any]:
    """Measure everything; print the figures unless `quiet`; return them."""
    result: dict[str, Any] = {
        # Timings here are a few context switches each: a busy machine stretches them.
        "load_average_1min": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
        "cpus": os.cpu_count(),
        "gateway": measure_gateway(calls),
        "cache_hit": measure_cache_hit(calls),
        "startup": measure_startup(),
    }
    if embedded:
        result["embedded"] = measure_embedded()
    if not quiet:
        print(report(result), flush=True)
    return result


def report(result: dict[str, Any]) -> str:
    g, c = result["gateway"], result["cache_hit"]
    lines = [
        f"LLM layer (machine load {result['load_average_1min']} on {result['cpus']} CPUs):",
        f"LLM gateway overhead per call: {g['overhead_ms']:.2f} ms "
        f"(through gateway {g['through_gateway_ms']:.2f} ms vs straight {g['direct_ms']:.2f} ms, "
        f"ratio {g['ratio']:.2f}; medians of {g['calls_each']} calls; target <= {g['target_ms']:.0f} ms: "
        f"{'met' if g['within_target'] else 'MISSED'}); fastest tenth: {g['p10_overhead_ms']:.2f} ms",
        f"LLM cache hit: {c['end_to_end_ms']:.2f} ms end to end, {c['inside_gateway_ms']:.2f} ms "
        f"inside the gateway (median of {c['calls']})",
        f"LLM gateway start {result['startup']['start_ms']:.0f} ms, stop "
        f"{result['startup']['stop_ms']:.0f} ms; a job's socket opens in "
        f"{result['startup']['job_open_ms']:.0f} ms, ends in {result['startup']['job_end_ms']:.0f} ms",
    ]
    e = result.get("embedded")
    if e is not None and e.get("available"):
        lines.append(
            f"embedded model local/gemma-3-270m: {e['tokens_per_s']} tokens/s "
            f"({e['completion_tokens']} tokens in {e['seconds']:.2f} s; load {e['load_s']:.2f} s)"
        )
    elif e is not None:
        lines.append(f"embedded model: not measured ({e['reason']})")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--no-embedded", action="store_true", help="skip the embedded model")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--job", help=argparse.SUPPRESS)  # internal: run as the job process
    args = parser.parse_args(argv)
    if args.job:
        print(json.dumps(job_loop(json.loads(args.job))))
        return 0
    result = run(args.calls, embedded=not args.no_embedded, quiet=args.json)
    if args.json:
        print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
