"""The LLM performance script runs and reports every figure (timings are printed, not asserted)."""

from __future__ import annotations

from cwmb import perf_llm


def test_perf_script_reports_every_figure() -> None:
    result = perf_llm.run(calls=8, embedded=False, quiet=True)
    assert result["gateway"]["calls_each"] == 8
    assert result["cache_hit"]["calls"] == 8
    assert {"start_ms", "stop_ms"} <= set(result["startup"])
    text = perf_llm.report(result)
    assert "gateway overhead per call" in text and "cache hit" in text and "start" in text
