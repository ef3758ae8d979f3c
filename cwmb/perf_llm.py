"""Performance of the LLM layer, measured side by side in one run (`python -m cwmb.perf_llm`).

- gateway overhead: the same short call made straight to a scripted OpenAI-compatible server and
  through the gateway (Unix socket, job token, budget, cache off), in alternating rounds so both
  see the same machine load; the difference of the medians is the gateway's cost per call
  (target: at most 5 ms);
- cache hit: a recorded call replayed through the gateway, end to end and inside the gateway;
- embedded model: tokens per second of local/gemma-3-270m generating code on this machine.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cwmb.errors import CwmbError
from cwmb.llm.cache import CacheMode, LlmCache
from cwmb.llm.client import LlmClient
from cwmb.llm.gateway import Gateway
from cwmb.llm.models import select_model
from cwmb.llm.scripted import ScriptedLLM

OVERHEAD_TARGET_MS = 5.0
MESSAGES = [{"role": "user", "content": "Say ok."}]


def _timed(call: Callable[[], Any]) -> float:
    start = time.perf_counter()
    call()
    return (time.perf_counter() - start) * 1000.0


def _ms(values: list[float]) -> float:
    return round(statistics.median(values), 3)


def measure_gateway(calls: int = 200, rounds: int = 4) -> dict[str, Any]:
    """Per-call latency straight to the scripted server and through the gateway, alternating."""
    direct: list[float] = []
    gateway: list[float] = []
    with ScriptedLLM(lambda request: "ok") as server:
        spec = select_model("openai/scripted", server.base_url, env={})
        with (
            Gateway(spec, cache=LlmCache(mode=CacheMode.OFF), host_env={}) as gw,
            LlmClient("openai/scripted", base_url=server.base_url) as straight,
            LlmClient.from_environment(gw.job_environment(gw.add_job("perf"))) as through,
        ):
            for client in (straight, through):  # warm up connections and imports
                for _ in range(10):
                    client.complete(MESSAGES)
            per_round = max(1, calls // rounds)
            for _ in range(rounds):
                direct += [_timed(lambda: straight.complete(MESSAGES)) for _ in range(per_round)]
                gateway += [_timed(lambda: through.complete(MESSAGES)) for _ in range(per_round)]
            inside = [r.latency_ms for r in gw.calls[10:]]
    overhead = _ms(gateway) - _ms(direct)
    return {
        "calls_each": len(direct),
        "direct_ms": _ms(direct),
        "through_gateway_ms": _ms(gateway),
        "overhead_ms": round(overhead, 3),
        "ratio": round(_ms(gateway) / _ms(direct), 3),
        "inside_gateway_ms": _ms(inside),
        "target_ms": OVERHEAD_TARGET_MS,
        "within_target": overhead <= OVERHEAD_TARGET_MS,
    }


def _ask_all(gw: Gateway, prompts: list[list[dict[str, str]]]) -> list[float]:
    """Ask every prompt as one new job; the latency of each call in ms."""
    with LlmClient.from_environment(gw.job_environment(gw.add_job("perf"))) as client:
        return [_timed(lambda p=p: client.complete(p)) for p in prompts]  # type: ignore[misc]


def measure_cache_hit(calls: int = 200) -> dict[str, Any]:
    """Record `calls` distinct requests, then replay them: latency of a cache hit."""
    prompts = [[{"role": "user", "content": f"question {i}"}] for i in range(calls)]
    with (
        tempfile.TemporaryDirectory(prefix="cwmb-perf-") as tmp,
        ScriptedLLM(lambda r: "ok") as server,
    ):
        path = Path(tmp) / "cache.sqlite"
        spec = select_model("openai/scripted", server.base_url, env={})
        with LlmCache(path) as cache, Gateway(spec, cache=cache, host_env={}) as gw:
            _ask_all(gw, prompts)
        upstream_before = server.upstream_calls
        with (
            LlmCache(path, CacheMode.REPLAY) as cache,
            Gateway(spec, cache=cache, host_env={}) as gw,
        ):
            end_to_end = _ask_all(gw, prompts)
            inside = [r.latency_ms for r in gw.calls]
        if server.upstream_calls != upstream_before:
            raise CwmbError("perf: a replay made upstream calls")
    return {"calls": calls, "end_to_end_ms": _ms(end_to_end), "inside_gateway_ms": _ms(inside)}


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


def run(calls: int = 200, embedded: bool = True) -> dict[str, Any]:
    result: dict[str, Any] = {
        "gateway": measure_gateway(calls),
        "cache_hit": measure_cache_hit(calls),
    }
    if embedded:
        result["embedded"] = measure_embedded()
    return result


def report(result: dict[str, Any]) -> str:
    g, c = result["gateway"], result["cache_hit"]
    lines = [
        f"LLM gateway overhead per call: {g['overhead_ms']:.2f} ms "
        f"(through gateway {g['through_gateway_ms']:.2f} ms vs straight {g['direct_ms']:.2f} ms, "
        f"ratio {g['ratio']:.2f}; medians of {g['calls_each']} calls; target <= {g['target_ms']:.0f} ms: "
        f"{'met' if g['within_target'] else 'MISSED'})",
        f"LLM cache hit: {c['end_to_end_ms']:.2f} ms end to end, {c['inside_gateway_ms']:.2f} ms "
        f"inside the gateway (median of {c['calls']})",
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
    args = parser.parse_args(argv)
    result = run(args.calls, embedded=not args.no_embedded)
    print(json.dumps(result, indent=2) if args.json else report(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
