"""Hostile methods against the LLM gateway (tests/hostile_methods/gateway_*.py), each run by a
real bench: the attack fails with a clear answer, the budget and the upstream see only what the
run allows, the bench finishes, and other jobs are served."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cwmb import runner

METHODS = Path(__file__).with_name("hostile_methods")
ISOLATIONS = ["process", pytest.param("docker", marks=pytest.mark.docker)]
ENV = "Blackjack-v1"


def bench(scripted_llm, tmp_path: Path, method: str, isolation: str, *extra: str) -> Path:
    """Run `method` in a bench against the scripted upstream; the run folder."""
    out = tmp_path / "out"
    command = [sys.executable, "-m", "cwmb.cli", "bench", "--method", method,
               "--model", "openai/scripted", "--model-base-url", scripted_llm.base_url,
               "--episodes", "1", "--envs", ENV, "--isolation", isolation,
               "--out", str(out), "--run-id", "run", "--no-report", *extra]  # fmt: skip
    env = {**os.environ, "CWMB_CACHE_DIR": str(tmp_path / "cache"), "OPENAI_API_KEY": "sk-test",
           runner.METHODS_PATH_VARIABLE: str(METHODS)}  # fmt: skip
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    return out / "run"


def outcome(run: Path, method: str, seed: int = 0) -> dict:
    program = (run / method / ENV / f"seed{seed}" / "program.py").read_text()
    line = next(x for x in program.splitlines() if x.startswith("# outcome: "))
    return dict(json.loads(line.removeprefix("# outcome: ")))


def score(run: Path, method: str, seed: int = 0) -> dict:
    return dict(json.loads((run / method / ENV / f"seed{seed}" / "score.json").read_text()))


def gateway_log(run: Path) -> list[dict]:
    """The gateway's call log (absent when no call reached a job's socket)."""
    log = run / "gateway.jsonl"
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_n_16_buys_nothing(scripted_llm, tmp_path, isolation):
    scripted_llm.script(["one answer"])
    run = bench(scripted_llm, tmp_path, "gateway-n-16", isolation, "--budget", "1")
    seen = outcome(run, "gateway-n-16")
    assert (seen["n16_status"], seen["n16_choices"], seen["plain_status"]) == (400, 0, 200)
    assert "`n` must be 1" in seen["n16_error"]
    assert scripted_llm.upstream_calls == 1
    assert all("n" not in (r.body or {}) for r in scripted_llm.chat_requests)
    assert score(run, "gateway-n-16")["llm_calls"] == 1


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_fields_outside_the_allow_list_never_reach_the_upstream(scripted_llm, tmp_path, isolation):
    scripted_llm.script(["clamped"])
    run = bench(scripted_llm, tmp_path, "gateway-extra-fields", isolation, "--budget", "5")
    seen = outcome(run, "gateway-extra-fields")
    assert seen == {"logprobs": 400, "top_logprobs": 400, "tools": 400, "logit_bias": 400,
                    "huge_max_tokens": 200}  # fmt: skip
    [sent] = [r.body or {} for r in scripted_llm.chat_requests]
    assert sent["max_tokens"] == 1500  # the run's setting, not 10**9
    assert set(sent) <= {"model", "messages", "max_tokens", "temperature", "top_p", "top_k",
                         "stop", "seed"}  # fmt: skip
    assert score(run, "gateway-extra-fields")["llm_calls"] == 1


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_nothing_answers_without_the_token(scripted_llm, tmp_path, isolation):
    run = bench(scripted_llm, tmp_path, "gateway-no-token", isolation, "--budget", "1")
    probes = outcome(run, "gateway-no-token")["probes"]
    assert [p[2] for p in probes] == [401] * len(probes)
    assert not any("scripted" in p[3] for p in probes)  # not even the model's name
    assert scripted_llm.upstream_calls == 0


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_a_huge_body_is_refused_after_the_cap(scripted_llm, tmp_path, isolation):
    run = bench(scripted_llm, tmp_path, "gateway-huge-body", isolation, "--budget", "1")
    seen = outcome(run, "gateway-huge-body")
    assert seen["status"] in (413, "WriteError", "RemoteProtocolError", "ReadError"), seen
    assert seen["sent_bytes"] < 100_000_000  # stopped long before its 1.5 GB
    assert scripted_llm.upstream_calls == 0
    refusals = [r for r in gateway_log(run) if r["status"] == 413]
    assert refusals and "larger than the gateway's limit" in refusals[0]["error"]


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_a_connection_flood_starves_no_other_job(scripted_llm, tmp_path, isolation):
    scripted_llm.script(lambda request: "served")
    method = "gateway-connection-flood"
    run = bench(scripted_llm, tmp_path, method, isolation,
                "--seeds", "2", "--jobs", "2", "--budget", "40")  # fmt: skip
    flood, victim = outcome(run, method, 0), outcome(run, method, 1)
    assert flood["opened"] + flood["refused"] == 5000
    during = [c for c in victim["calls"] if flood["held_from"] <= c[0] <= flood["held_to"]]
    assert len(during) >= 3, (flood, victim)  # the victim really called during the flood
    assert [c[1] for c in victim["calls"]] == ["ok"] * len(victim["calls"])
    assert score(run, method, 1)["llm_calls"] == len(victim["calls"])


def test_a_stale_token_spends_nothing_after_its_job(scripted_llm, tmp_path):
    scripted_llm.script(lambda request: "late answer")
    method = "gateway-stale-token"
    run = bench(scripted_llm, tmp_path, method, "process", "--seeds", "2", "--budget", "5")
    job = f"{method}/{ENV}/seed0"
    assert [r for r in gateway_log(run) if r["job"] == job and r["status"] == 200] == []
    assert score(run, method, 0)["llm_calls"] == 0
    assert scripted_llm.upstream_calls == 0
    # Where the helper survived its job (no pid namespace), it saw only failures.
    late = run / method / ENV / "seed0" / "late.json"
    deadline = time.monotonic() + 30
    while (
        sys.platform == "linux"
        and not late.exists()
        and _helper_alive()
        and time.monotonic() < deadline
    ):
        time.sleep(0.5)
    if late.exists():
        assert 200 not in json.loads(late.read_text())


def _helper_alive() -> bool:
    """Whether the stale-token helper still runs somewhere on this machine."""
    for status in Path("/proc").glob("[0-9]*/cmdline"):
        with contextlib.suppress(OSError):
            if b"late" in status.read_bytes() and b"CWMB_LLM_TOKEN" in status.read_bytes():
                return True
    return False


@pytest.mark.docker
def test_a_job_under_the_hosts_uid_cannot_replace_its_socket(scripted_llm, tmp_path, monkeypatch):
    """The socket folder belongs to the (non-root) uid the job container runs as, which is what
    a bench run by an ordinary user looks like; only the read-only mount stands between the job
    and its socket."""
    from cwmb.bench.config import BenchConfig
    from cwmb.bench.run import Bench
    from cwmb.llm import job_server
    from cwmb.sandbox.docker_backend import SANDBOX_USER

    uid, gid = (int(x) for x in SANDBOX_USER.split(":"))
    bind = job_server.bind_unix

    def bind_as_the_jobs_user(folder: Path):  # type: ignore[no-untyped-def]
        sock = bind(folder)
        for path in (folder, folder / job_server.SOCKET_NAME):
            os.chown(path, uid, gid)
        return sock

    monkeypatch.setattr(job_server, "bind_unix", bind_as_the_jobs_user)
    monkeypatch.setenv(runner.METHODS_PATH_VARIABLE, str(METHODS))
    monkeypatch.setenv("CWMB_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    scripted_llm.script(["answered by the gateway"])
    method = "gateway-replace-socket"
    config = BenchConfig(methods=[method], envs=[ENV], seeds=1, budget=1,
                         model="openai/scripted", model_base_url=scripted_llm.base_url,
                         preset="default", episodes=1, isolation="docker", cache="off", jobs=1,
                         quick=False)  # fmt: skip
    run = Bench(config, tmp_path / "out", run_id="run").run().root
    seen = outcome(run, method)
    assert seen["uid"] == seen["folder_owner"] == uid != 0
    for way in ("unlink", "rename", "create", "chmod_folder", "bind_beside"):
        assert seen[way] == "Read-only file system", (way, seen)
    assert seen["call"] == "answered by the gateway"
