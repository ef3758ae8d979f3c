"""`cwmb job`: one job end to end, its outputs, failures, and record/replay through the gateway."""

from __future__ import annotations

import json
import shutil

from methods_helpers import fenced

from cwmb import cli, job, registry
from cwmb.llm.cache import CacheMode, LlmCache
from cwmb.llm.gateway import Gateway
from cwmb.llm.models import select_model
from cwmb.llm.upstream import RetryPolicy
from cwmb.runner import LoadedMethod
from cwmb.trace import read_trace

ENV = "CliffWalking-v1"
REFERENCE = registry.get(ENV).reference_source()
# Variants of the reference: wrong cliff penalty, wrong step cost, a crash.
WRONG_CLIFF = REFERENCE.replace("-100", "-10")
WRONG_STEP = REFERENCE.replace("STEP_REWARD = -1", "STEP_REWARD = -2")
CRASH = REFERENCE.replace("def step(self, action):", "def step(self, action):\n        1 / 0")


def job_args(out, url, method="refine", budget=4, *extra):
    return [
        "job", "--method", method, "--env", ENV, "--seed", "0", "--budget", str(budget),
        "--out", str(out), "--llm-url", url, "--model", "openai/scripted", *extra,
    ]  # fmt: skip


def test_a_job_writes_its_outputs(tmp_path, scripted_llm, capsys):
    scripted_llm.script([fenced(WRONG_CLIFF), fenced(CRASH), fenced(REFERENCE)])
    out = tmp_path / "job"
    assert cli.main(job_args(out, scripted_llm.base_url)) == 0
    assert "refine on CliffWalking-v1 seed 0: ok, 3 LLM calls" in capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir()) == [
        "job.json",
        "log.txt",
        "program.py",
        "trace.jsonl",
    ]
    assert (out / "program.py").read_text() == REFERENCE
    info = json.loads((out / "job.json").read_text())
    assert info["status"] == "ok" and info["llm_calls"] == 3 and info["train_solved"] is True
    assert info["train_accuracy"] == 1.0 and not info["budget_exhausted"]
    events = [r["event"] for r in read_trace(out / "trace.jsonl")]
    assert events == [
        "job",
        "llm",
        "evaluation",
        "llm",
        "evaluation",
        "llm",
        "evaluation",
        "result",
    ]
    assert "accuracy 1.0000 (solved)" in (out / "log.txt").read_text()


def test_a_job_needs_only_the_train_file(tmp_path, scripted_llm, monkeypatch):
    # No shipped datasets at all (so no held-out split): the train file given is enough.
    train = tmp_path / "train.npz"
    shutil.copy(registry.get(ENV).split_path("train"), train)
    monkeypatch.setenv("CWMB_TRAJECTORIES", str(tmp_path / "nothing-here"))
    scripted_llm.script([fenced(WRONG_STEP)])
    out = tmp_path / "job"
    assert (
        cli.main(job_args(out, scripted_llm.base_url, "zero-shot", 1, "--train", str(train))) == 0
    )
    info = json.loads((out / "job.json").read_text())
    assert info["llm_calls"] == 1 and 0 < info["train_accuracy"] < 1 and info["budget_exhausted"]


def test_a_failing_method_keeps_its_best_program(tmp_path, scripted_llm, monkeypatch):
    def broken(task):
        task.evaluate(task.generate())
        raise RuntimeError("the method crashed")

    monkeypatch.setattr(job, "load_method", lambda method: LoadedMethod(broken, None))
    scripted_llm.script([fenced(WRONG_CLIFF)])
    out = tmp_path / "job"
    assert cli.main(job_args(out, scripted_llm.base_url, "anything", 3)) == 1
    info = json.loads((out / "job.json").read_text())
    assert info["status"] == "error" and "the method crashed" in info["error"]
    assert (out / "program.py").read_text() == WRONG_CLIFF
    assert "RuntimeError" in (out / "log.txt").read_text()


def test_usage_errors_are_one_line(tmp_path, capsys):
    assert (
        cli.main(["job", "--method", "nope", "--env", ENV, "--budget", "1", "--out", str(tmp_path)])
        == 2
    )
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown method 'nope'; known methods:" in err
    other = registry.get("CartPole-v1").split_path("train")
    code = cli.main(
        ["job", "--method", "null", "--env", ENV, "--budget", "0", "--out", str(tmp_path),
         "--train", str(other)]
    )  # fmt: skip
    assert code == 2 and "does not hold CliffWalking-v1 transitions" in capsys.readouterr().err


def _gif_job(tmp_path, name, gateway, token):
    config = job.JobConfig(
        method="gif-mcts", env_id=ENV, seed=7, budget=6, out=tmp_path / name,
        llm_url=gateway.url("gif-mcts/CW/seed7"), llm_token=token, model="openai/scripted",
    )  # fmt: skip
    result = job.run_job(config)
    tree = [r for r in read_trace(config.out / "trace.jsonl") if r["event"] == "tree"][-1]
    return result, tree


def test_same_seed_and_replayed_cache_reproduce_tree_and_program(tmp_path, scripted_llm):
    answers = iter(
        [fenced(WRONG_CLIFF), fenced(CRASH), fenced(WRONG_STEP), fenced(WRONG_CLIFF),
         fenced(CRASH), fenced(WRONG_STEP)]
    )  # fmt: skip
    scripted_llm.script(lambda body: next(answers))
    spec = select_model("openai/scripted", scripted_llm.base_url, env={})
    retry = RetryPolicy(attempts=1, base_delay_s=0.01, max_delay_s=0.01)
    cache_path = tmp_path / "cache.sqlite"
    with (
        LlmCache(cache_path) as cache,
        Gateway(spec, cache=cache, tcp=True, retry=retry, host_env={}) as gw,
    ):
        first, first_tree = _gif_job(tmp_path, "record", gw, gw.add_job("gif-mcts/CW/seed7", 6))
    assert scripted_llm.upstream_calls == 6 and first.calls == 6
    scripted_llm.script([])  # any live call would now fail
    with (
        LlmCache(cache_path, CacheMode.REPLAY) as cache,
        Gateway(spec, cache=cache, tcp=True, retry=retry, host_env={}) as gw,
    ):
        second, second_tree = _gif_job(tmp_path, "replay", gw, gw.add_job("gif-mcts/CW/seed7", 6))
    assert scripted_llm.upstream_calls == 6, "the replay made no live call"
    assert second.program == first.program and second.status == "ok"
    for key in ("nodes", "actions", "max_depth", "best_node", "best_accuracy"):
        assert second_tree[key] == first_tree[key]
    assert first_tree["n_nodes"] == 6


def test_the_gateway_budget_ends_the_search_cleanly(tmp_path, scripted_llm):
    scripted_llm.script(lambda body: fenced(WRONG_STEP))
    spec = select_model("openai/scripted", scripted_llm.base_url, env={})
    with Gateway(spec, tcp=True, host_env={}) as gw:
        # The gateway grants 3 calls although the job believes it has 6.
        result, tree = _gif_job(tmp_path, "short", gw, gw.add_job("gif-mcts/CW/seed7", 3))
    assert result.status == "ok" and result.calls == 3 and tree["n_nodes"] == 3
    assert result.info["budget_exhausted"] and result.program == WRONG_STEP


def test_a_job_process_takes_the_gateway_from_its_environment(tmp_path, scripted_llm):
    """How the bench starts a job: a separate process whose environment holds only the gateway's
    address, the job's token and the model (see cwmb.llm.gateway.job_environment)."""
    import os
    import subprocess
    import sys

    from cwmb.llm.gateway import job_environment

    spec = select_model("openai/scripted", scripted_llm.base_url, env={})
    scripted_llm.script(lambda body: fenced(WRONG_STEP))
    with Gateway(spec, tcp=True, host_env={}) as gw:
        token = gw.add_job("zero-shot/CW/seed0", 1)
        url = gw.url("zero-shot/CW/seed0")
        env = job_environment(token, spec.id, url=url, host_env={"PATH": os.environ["PATH"]})
        out = tmp_path / "job"
        done = subprocess.run(
            [sys.executable, "-m", "cwmb.cli", "job", "--method", "zero-shot", "--env", ENV,
             "--budget", "1", "--out", str(out)],
            env=env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
    assert done.returncode == 0, done.stderr
    info = json.loads((out / "job.json").read_text())
    assert info["llm_calls"] == 1 and (out / "program.py").read_text() == WRONG_STEP
