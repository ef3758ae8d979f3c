"""GIF-MCTS end to end with the embedded model (local/gemma-3-270m) behind the real gateway.

The model is a 270M base model: its programs are poor, which is not what this checks. It checks
that a job started like the bench starts it (gateway over a Unix socket, per-job token and
budget, candidates in sandboxes) spends exactly its budget and leaves a complete tree."""

from __future__ import annotations

import json

import pytest

from cwmb.job import JobConfig, run_job
from cwmb.llm.cache import CacheMode, LlmCache
from cwmb.llm.gateway import Gateway
from cwmb.llm.models import select_model
from cwmb.trace import read_trace

ENV = "CliffWalking-v1"
BUDGET = 2


@pytest.mark.slow
def test_gif_mcts_with_the_embedded_model(tmp_path):
    spec = select_model("local/gemma-3-270m", env={})
    with (
        LlmCache(tmp_path / "cache.sqlite", CacheMode.READ_WRITE) as cache,
        Gateway(spec, cache=cache, host_env={}) as gateway,
    ):
        token = gateway.add_job(f"gif-mcts/{ENV}/seed0", BUDGET)
        config = JobConfig(
            method="gif-mcts", env_id=ENV, seed=0, budget=BUDGET, out=tmp_path / "job",
            llm_socket=str(gateway.socket_dir(f"gif-mcts/{ENV}/seed0") / "llm.sock"), llm_token=token, model=spec.id,
        )  # fmt: skip
        result = run_job(config)
        usage = gateway.usage()[f"gif-mcts/{ENV}/seed0"]
    assert result.status == "ok", result.error
    info = json.loads((config.out / "job.json").read_text())
    assert usage["used"] == info["llm_calls"]
    assert info["llm_calls"] == BUDGET or info["train_solved"]
    trace = read_trace(config.out / "trace.jsonl")
    tree = [r for r in trace if r["event"] == "tree"][-1]
    assert tree["n_nodes"] == info["llm_calls"] == len([r for r in trace if r["event"] == "llm"])
    assert tree["nodes"][1]["action"] == "generate" and tree["nodes"][1]["parent"] == 0
    print(
        f"\nGIF-MCTS on {ENV} with {spec.id}: actions {tree['actions']}, depth "
        f"{tree['max_depth']}, best train accuracy {tree['best_accuracy']}, "
        f"{info['wall_seconds']:.0f}s"
    )
