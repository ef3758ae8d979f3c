"""Sampling settings of a run: `cwmb bench --temperature/--top-p/--top-k/--max-tokens`, applied
to every call by the gateway, recorded in the manifest, part of the cache key and the run id."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from llm_server import code_reply

from cwmb import registry
from cwmb.bench.config import BenchConfig
from cwmb.cli import main
from cwmb.llm.cache import LlmCache
from cwmb.llm.client import LlmClient, Sampling
from cwmb.llm.gateway import Gateway
from cwmb.llm.models import select_model

HELLO = [{"role": "user", "content": "hello"}]
GPT4 = Sampling(max_tokens=4096, temperature=0.6, top_p=0.8, top_k=None)


def ask_through(server, sampling: Sampling | None, cache: LlmCache | None = None) -> dict:
    """One call from a job's client (which sends its own defaults) through a gateway."""
    spec = select_model("openai/scripted", server.base_url, env={})
    with Gateway(spec, cache=cache, host_env={}, sampling=sampling) as gw:
        env = gw.job_environment(gw.add_job("m/Env/seed0", 3))
        with LlmClient.from_environment(env) as client:
            client.complete(HELLO, temperature=0.1)
    body = server.chat_requests[-1].body
    assert body is not None
    return body


def test_the_gateway_samples_as_the_run_says_whatever_the_job_asks(scripted_llm):
    scripted_llm.script(lambda body: "ok")
    sent = ask_through(scripted_llm, GPT4)
    assert (sent["max_tokens"], sent["temperature"], sent["top_p"]) == (4096, 0.6, 0.8)
    assert "top_k" not in sent
    # Without run settings the request goes as the job sent it.
    sent = ask_through(scripted_llm, None)
    assert (sent["max_tokens"], sent["temperature"], sent["top_k"]) == (1500, 0.1, 100)


def test_the_cache_key_holds_the_sampling(scripted_llm, tmp_path: Path):
    scripted_llm.script(lambda body: f"answer {scripted_llm.upstream_calls}")
    with LlmCache(tmp_path / "cache.sqlite") as cache:
        ask_through(scripted_llm, Sampling(), cache)
        ask_through(scripted_llm, Sampling(), cache)  # the same settings: a hit
        assert scripted_llm.upstream_calls == 1
        ask_through(scripted_llm, GPT4, cache)  # other settings: another request
        assert scripted_llm.upstream_calls == 2


def test_run_id_and_identity_follow_the_sampling():
    base = dict(
        methods=["zero-shot"], envs=["CliffWalking-v1"], seeds=1, budget=1,
        model="openai/x", model_base_url=None, preset="fast", episodes=None,
        isolation="process", cache="off", jobs=1, quick=False,
    )  # fmt: skip
    paper = BenchConfig(**base)  # type: ignore[arg-type]
    # The paper's settings leave the identity as it was before the flags existed.
    assert "sampling" not in paper.identity()
    other = BenchConfig(**base, sampling=GPT4)  # type: ignore[arg-type]
    assert other.identity()["sampling"]["temperature"] == 0.6
    assert other.run_id() != paper.run_id()


def test_bench_sends_and_records_the_sampling(scripted_llm, tmp_path: Path):
    env_id = "CliffWalking-v1"
    scripted_llm.script(lambda body: code_reply(registry.get(env_id).reference_source()))
    command = [
        sys.executable, "-m", "cwmb.cli", "bench", "--method", "zero-shot", "--envs", env_id,
        "--model", "openai/scripted", "--model-base-url", scripted_llm.base_url,
        "--budget", "1", "--episodes", "1", "--isolation", "process", "--out", str(tmp_path),
        "--run-id", "run", "--no-report", "--cache", "off",
        "--temperature", "0.6", "--top-p", "0.8", "--top-k", "0", "--max-tokens", "4096",
    ]  # fmt: skip
    env = {**os.environ, "CWMB_CACHE_DIR": str(tmp_path / "cache"), "OPENAI_API_KEY": "sk-test"}
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["sampling"] == {
        "max_tokens": 4096, "temperature": 0.6, "top_p": 0.8, "top_k": None,
    }  # fmt: skip
    sent = scripted_llm.chat_requests[-1].body
    assert sent is not None
    assert (sent["max_tokens"], sent["temperature"], sent["top_p"]) == (4096, 0.6, 0.8)
    assert "top_k" not in sent


def test_a_sampling_value_out_of_range_is_one_clear_error(capsys):
    for flag, value in (("--temperature", "-1"), ("--top-p", "0"), ("--max-tokens", "0")):
        code = main(["bench", "--method", "zero-shot", "--model", "openai/x", flag, value])
        err = capsys.readouterr().err
        lines = [line for line in err.splitlines() if line.strip()]
        assert code != 0 and len(lines) == 1 and flag in lines[0], err
