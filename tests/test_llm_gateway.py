"""The gateway and the client, tested against the scripted server over real HTTP."""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from llm_server import ScriptedLLM, counting_rule, echo_rule, failing

from cwmb.llm.cache import CacheMode, LlmCache
from cwmb.llm.client import LlmClient, Sampling
from cwmb.llm.errors import BudgetExhausted, LlmError, ReplayMiss
from cwmb.llm.gateway import Gateway
from cwmb.llm.models import ModelSpec, select_model
from cwmb.llm.upstream import RetryPolicy

FAST_RETRY = RetryPolicy(attempts=3, base_delay_s=0.01, max_delay_s=0.05)
HELLO = [{"role": "user", "content": "hello"}]


def spec_for(server: ScriptedLLM) -> ModelSpec:
    return select_model("openai/scripted", server.base_url, env={})


def gateway(server: ScriptedLLM, cache: LlmCache | None = None, **kw: object) -> Gateway:
    return Gateway(spec_for(server), cache=cache, retry=FAST_RETRY, host_env={}, **kw)  # type: ignore[arg-type]


@pytest.fixture
def job_client() -> Iterator:
    """Factory: a client for a new job on a running gateway, closed after the test."""
    clients: list[LlmClient] = []

    def make(gw: Gateway, job: str = "m/Env/seed0", budget: int | None = None) -> LlmClient:
        client = LlmClient.from_environment(gw.job_environment(gw.add_job(job, budget)))
        clients.append(client)
        return client

    yield make
    for c in clients:
        c.close()


def test_answers_text_and_usage_and_sends_paper_sampling(scripted_llm, job_client) -> None:
    scripted_llm.script(
        [{"content": "hi there", "usage": {"prompt_tokens": 11, "completion_tokens": 2}}]
    )
    with gateway(scripted_llm) as gw:
        answer = job_client(gw).complete(HELLO)
    assert answer.text == "hi there"
    assert (answer.prompt_tokens, answer.completion_tokens) == (11, 2)
    assert answer.model == "openai/scripted" and answer.cache_hit is False
    sent = scripted_llm.chat_requests[0].body
    assert sent is not None
    assert sent["model"] == "scripted"  # the provider prefix is the gateway's business
    assert (sent["max_tokens"], sent["temperature"], sent["top_p"], sent["top_k"]) == (
        1500,
        1.0,
        0.8,
        100,
    )


def test_replay_returns_same_answers_in_order_with_zero_upstream_calls(
    scripted_llm, job_client, tmp_path: Path
) -> None:
    scripted_llm.script(counting_rule("sample"))
    path = tmp_path / "cache.sqlite"
    prompts = [HELLO, HELLO, [{"role": "user", "content": "other"}], HELLO]
    with LlmCache(path) as cache, gateway(scripted_llm, cache) as gw:
        client = job_client(gw)
        recorded = [client.complete(p).text for p in prompts]
    assert recorded == ["sample 0", "sample 1", "sample 2", "sample 3"]
    assert scripted_llm.upstream_calls == 4

    with LlmCache(path, CacheMode.REPLAY) as cache, gateway(scripted_llm, cache) as gw:
        client = job_client(gw)
        answers = [client.complete(p) for p in prompts]
    assert [a.text for a in answers] == recorded
    assert all(a.cache_hit for a in answers)
    assert scripted_llm.upstream_calls == 4  # not one more


def test_read_write_answers_repeats_from_cache(scripted_llm, job_client, tmp_path: Path) -> None:
    scripted_llm.script(counting_rule())
    path = tmp_path / "cache.sqlite"
    with LlmCache(path) as cache, gateway(scripted_llm, cache) as gw:
        job_client(gw).complete(HELLO)
    with LlmCache(path) as cache, gateway(scripted_llm, cache) as gw:
        client = job_client(gw)
        first, second = client.complete(HELLO), client.complete(HELLO)
    assert (first.text, first.cache_hit) == ("answer 0", True)
    assert (second.text, second.cache_hit) == ("answer 1", False)  # a new sample, recorded
    assert scripted_llm.upstream_calls == 2


def test_replay_miss_is_a_clear_error_and_never_a_live_call(
    scripted_llm, job_client, tmp_path: Path
) -> None:
    path = tmp_path / "cache.sqlite"
    LlmCache(path).close()
    scripted_llm.script(["never served"])
    with (
        LlmCache(path, CacheMode.REPLAY) as cache,
        gateway(scripted_llm, cache) as gw,
        pytest.raises(ReplayMiss, match="no answer for job 'm/Env/seed0'.*'hello'"),
    ):
        job_client(gw).complete(HELLO)
    assert scripted_llm.upstream_calls == 0


def test_parallel_jobs_with_identical_prompts_replay_exactly(
    scripted_llm, job_client, tmp_path: Path
) -> None:
    scripted_llm.script(counting_rule())
    path = tmp_path / "cache.sqlite"

    def run(gw: Gateway) -> dict[str, list[str]]:
        results: dict[str, list[str]] = {}
        clients = {f"job{j}": job_client(gw, f"job{j}") for j in range(4)}

        def work(name: str) -> None:
            results[name] = [clients[name].complete(HELLO).text for _ in range(3)]

        threads = [threading.Thread(target=work, args=(n,)) for n in clients]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return results

    with LlmCache(path) as cache, gateway(scripted_llm, cache) as gw:
        recorded = run(gw)
    with LlmCache(path, CacheMode.REPLAY) as cache, gateway(scripted_llm, cache) as gw:
        replayed = run(gw)
    assert replayed == recorded
    assert len({t for texts in recorded.values() for t in texts}) == 12
    assert scripted_llm.upstream_calls == 12


def test_budget_counts_calls_and_the_next_one_is_refused(
    scripted_llm, job_client, tmp_path: Path
) -> None:
    scripted_llm.script(echo_rule)
    with LlmCache(tmp_path / "c.sqlite") as cache, gateway(scripted_llm, cache) as gw:
        client = job_client(gw, "gif_mcts/Taxi-v4/seed1", budget=2)
        assert client.complete(HELLO).calls_left == 1
        assert client.complete(HELLO).calls_left == 0
        with pytest.raises(
            BudgetExhausted, match="job 'gif_mcts/Taxi-v4/seed1' has used all 2 calls"
        ):
            client.complete(HELLO)
        # Another job's budget is its own.
        assert job_client(gw, "other", budget=1).complete(HELLO).text == "hello"
        usage = gw.usage()
    assert usage["gif_mcts/Taxi-v4/seed1"]["used"] == 2
    assert usage["gif_mcts/Taxi-v4/seed1"]["calls"] == 2
    assert scripted_llm.upstream_calls == 3


def test_failed_calls_do_not_use_up_the_budget(scripted_llm, job_client) -> None:
    scripted_llm.script([failing(400, "bad request"), "ok"])
    with gateway(scripted_llm) as gw:
        client = job_client(gw, budget=1)
        with pytest.raises(LlmError, match="refused the request .*bad request"):
            client.complete(HELLO)
        assert client.complete(HELLO).text == "ok"


def test_retries_rate_limits_and_server_errors(scripted_llm, job_client) -> None:
    scripted_llm.script([failing(429, "slow down"), failing(503, "busy"), "finally"])
    with gateway(scripted_llm) as gw:
        assert job_client(gw).complete(HELLO).text == "finally"
    assert scripted_llm.upstream_calls == 3


def test_gives_up_after_the_retry_budget(scripted_llm, job_client) -> None:
    scripted_llm.script([failing(500, "down")] * 5)
    with (
        gateway(scripted_llm) as gw,
        pytest.raises(LlmError, match="failed after 3 attempts: HTTP 500: down"),
    ):
        job_client(gw).complete(HELLO)
    assert scripted_llm.upstream_calls == 3


def test_unreachable_endpoint_is_a_clear_error(job_client) -> None:
    spec = select_model("openai/m", "http://127.0.0.1:9/v1", env={})
    with (
        Gateway(spec, retry=FAST_RETRY, host_env={}) as gw,
        pytest.raises(LlmError, match="cannot connect"),
    ):
        job_client(gw).complete(HELLO)


def test_client_without_gateway_reports_unreachable() -> None:
    with (
        LlmClient("openai/m", base_url="http://127.0.0.1:9/v1") as client,
        pytest.raises(LlmError, match="cannot reach the LLM endpoint at http://127.0.0.1:9/v1"),
    ):
        client.complete(HELLO)


def test_api_key_goes_upstream_and_is_scrubbed_from_errors(scripted_llm, job_client) -> None:
    key = "sk-test-SECRET-123"
    scripted_llm.script([failing(401, f"invalid key {key}")])
    gw = Gateway(spec_for(scripted_llm), retry=FAST_RETRY, host_env={"OPENAI_API_KEY": key})
    with gw, pytest.raises(LlmError, match="rejected the API key") as err:
        job_client(gw).complete(HELLO)
    assert key not in str(err.value)
    assert scripted_llm.chat_requests[0].headers["authorization"] == f"Bearer {key}"


def test_top_k_is_dropped_for_openai_itself(scripted_llm) -> None:
    # Same gateway code path as api.openai.com, pointed at the scripted server.
    from cwmb.llm.models import Upstream
    from cwmb.llm.upstream import UpstreamBackend

    scripted_llm.script(["ok"])
    backend = UpstreamBackend(
        spec_for(scripted_llm), Upstream(scripted_llm.base_url, "k", supports_top_k=False)
    )
    import asyncio

    async def go() -> None:
        await backend.complete({"model": "openai/scripted", "messages": HELLO, "top_k": 100})
        await backend.aclose()

    asyncio.run(go())
    assert "top_k" not in (scripted_llm.chat_requests[0].body or {})


def test_unknown_token_and_wrong_model_are_refused(scripted_llm) -> None:
    with gateway(scripted_llm) as gw:
        token = gw.add_job("j")
        socket_path = gw.socket_dir("j") / "llm.sock"
        with (
            LlmClient("openai/scripted", socket_path=socket_path, api_key="guess") as c,
            pytest.raises(LlmError, match="unknown job token"),
        ):
            c.complete(HELLO)
        with (
            LlmClient("openai/else", socket_path=socket_path, api_key=token) as c,
            pytest.raises(LlmError, match="serves openai/scripted, not 'openai/else'"),
        ):
            c.complete(HELLO)
    assert scripted_llm.upstream_calls == 0


def test_models_endpoint_and_loopback_tcp(scripted_llm, job_client) -> None:
    scripted_llm.script(["over tcp"])
    with gateway(scripted_llm, tcp=True) as gw:
        token = gw.add_job("tcp-job")
        url = gw.url("tcp-job")
        assert url is not None and url.startswith("http://127.0.0.1:")
        auth = {"authorization": f"Bearer {token}"}
        listed = httpx.get(f"{url}/models", headers=auth).json()
        assert [m["id"] for m in listed["data"]] == ["openai/scripted"]
        with LlmClient("openai/scripted", base_url=url, api_key=token) as c:
            assert c.complete(HELLO).text == "over tcp"


def test_every_call_is_recorded_and_logged(scripted_llm, job_client, tmp_path: Path) -> None:
    scripted_llm.script([{"content": "a", "usage": {"prompt_tokens": 5, "completion_tokens": 1}}])
    log = tmp_path / "calls.jsonl"
    with LlmCache(tmp_path / "c.sqlite") as cache, gateway(scripted_llm, cache, log_path=log) as gw:
        client = job_client(gw, "m/E/seed0", budget=1)
        client.complete(HELLO)
        with pytest.raises(BudgetExhausted):
            client.complete(HELLO)
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert [(r["job"], r["status"], r["cache_hit"]) for r in records] == [
        ("m/E/seed0", 200, False),
        ("m/E/seed0", 429, False),
    ]
    assert (records[0]["prompt_tokens"], records[0]["completion_tokens"]) == (5, 1)
    assert records[0]["latency_ms"] > 0
    assert gw.calls[0].job == "m/E/seed0"


def test_client_defaults_and_overrides(scripted_llm) -> None:
    scripted_llm.script(["a", "b"])
    with LlmClient(
        "openai/scripted", base_url=scripted_llm.base_url, sampling=Sampling(top_k=None)
    ) as c:
        c.complete(HELLO)
        c.complete(HELLO, max_tokens=7, temperature=0.0, stop=["\n"], seed=3)
        assert c.calls == 2
    first, second = (r.body or {} for r in scripted_llm.chat_requests)
    assert "top_k" not in first
    assert (second["max_tokens"], second["temperature"], second["stop"], second["seed"]) == (
        7,
        0.0,
        ["\n"],
        3,
    )


def test_from_environment_needs_a_gateway() -> None:
    with pytest.raises(LlmError, match="no LLM gateway for this job"):
        LlmClient.from_environment({})


def test_cost_counts_live_calls_at_the_given_prices(
    scripted_llm, job_client, tmp_path: Path
) -> None:
    from cwmb.errors import CwmbError
    from cwmb.llm.gateway import Prices

    usage = {"prompt_tokens": 1000, "completion_tokens": 500}
    scripted_llm.script([{"content": "a", "usage": usage}])
    prices = Prices.from_env({"CWMB_PRICE_PER_MTOK": "2.5,10"})
    assert prices == Prices(2.5, 10.0)
    path = tmp_path / "c.sqlite"
    with LlmCache(path) as cache, gateway(scripted_llm, cache, prices=prices) as gw:
        job_client(gw, "j").complete(HELLO)
    assert gw.usage()["j"]["cost_usd"] == pytest.approx(0.0025 + 0.005)
    with (
        LlmCache(path, CacheMode.REPLAY) as cache,
        gateway(scripted_llm, cache, prices=prices) as gw,
    ):
        job_client(gw, "j").complete(HELLO)
    assert gw.usage()["j"]["cost_usd"] == 0.0  # a cache hit is free
    assert Prices.from_env({}) is None
    with pytest.raises(CwmbError, match="CWMB_PRICE_PER_MTOK"):
        Prices.from_env({"CWMB_PRICE_PER_MTOK": "cheap"})


def test_a_failed_call_leaves_no_hole_in_the_recording(
    scripted_llm, job_client, tmp_path: Path
) -> None:
    scripted_llm.script([failing(400, "transient refusal"), "second try"])
    path = tmp_path / "c.sqlite"
    with LlmCache(path) as cache, gateway(scripted_llm, cache) as gw:
        client = job_client(gw)
        with pytest.raises(LlmError):
            client.complete(HELLO)
        assert client.complete(HELLO).text == "second try"
    with LlmCache(path, CacheMode.REPLAY) as cache, gateway(scripted_llm, cache) as gw:
        assert job_client(gw).complete(HELLO).text == "second try"


def test_a_job_started_again_replays_from_its_first_call(
    scripted_llm, job_client, tmp_path: Path
) -> None:
    scripted_llm.script(counting_rule())
    with LlmCache(tmp_path / "c.sqlite") as cache, gateway(scripted_llm, cache) as gw:
        once = job_client(gw, "m/E/seed0").complete(HELLO).text
        again = job_client(gw, "m/E/seed0").complete(HELLO).text  # the same job, started again
    assert (once, again) == ("answer 0", "answer 0")
    assert scripted_llm.upstream_calls == 1


# -- what a job cannot do with the gateway -----------------------------------------------------


def raw_call(
    gw: Gateway, job: str, token: str | None, body: object, path: str = "/v1/chat/completions"
) -> httpx.Response:
    """One request over the job's own socket, exactly as given (no client-side defaults)."""
    transport = httpx.HTTPTransport(uds=str(gw.socket_dir(job) / "llm.sock"))
    headers = {"authorization": f"Bearer {token}"} if token else {}
    with httpx.Client(transport=transport, base_url="http://gw") as http:
        if body is None:
            return http.get(path, headers=headers)
        return http.post(path, json=body, headers=headers)


def chat(**fields: object) -> dict:
    return {"model": "openai/scripted", "messages": HELLO, **fields}


def test_n_above_one_is_refused_and_costs_nothing(scripted_llm) -> None:
    scripted_llm.script(echo_rule)
    with gateway(scripted_llm) as gw:
        token = gw.add_job("j", budget=1)
        refused = raw_call(gw, "j", token, chat(n=16))
        assert refused.status_code == 400
        assert "`n` must be 1" in refused.json()["error"]["message"]
        assert raw_call(gw, "j", token, chat(n=1)).status_code == 200  # the one budget unit
        assert gw.usage()["j"]["used"] == 1
    assert scripted_llm.upstream_calls == 1


def test_only_allowed_fields_are_forwarded_and_max_tokens_is_clamped(scripted_llm) -> None:
    scripted_llm.script(echo_rule)
    with gateway(scripted_llm) as gw:  # the run's max_tokens: the paper's 1500
        token = gw.add_job("j")
        for extra in ({"logprobs": True}, {"top_logprobs": 20}, {"tools": []}, {"user": "x"}):
            answer = raw_call(gw, "j", token, chat(**extra))
            assert answer.status_code == 400, extra
            assert f"does not accept {next(iter(extra))}" in answer.json()["error"]["message"]
        nested = {"role": "user", "content": "hi", "name": "x"}
        assert raw_call(gw, "j", token, chat(messages=[nested])).status_code == 400
        sampling = dict(temperature=0.5, top_p=0.9, top_k=40, stop=["\n"], seed=7)
        assert raw_call(gw, "j", token, chat(max_tokens=100_000, **sampling)).status_code == 200
        assert raw_call(gw, "j", token, chat(max_tokens=20)).status_code == 200
        assert raw_call(gw, "j", token, chat()).status_code == 200
    bodies = [r.body or {} for r in scripted_llm.chat_requests]
    assert bodies[0] == {"model": "scripted", "messages": HELLO, "max_tokens": 1500, **sampling}
    assert [b["max_tokens"] for b in bodies] == [1500, 20, 1500]  # clamped, kept, set when missing
    assert scripted_llm.upstream_calls == 3


def test_nothing_answers_without_the_jobs_token(scripted_llm) -> None:
    with gateway(scripted_llm) as gw:
        token = gw.add_job("j")
        other = gw.add_job("k")
        for path in ("/v1/models", "/v1/anything", "/"):
            assert raw_call(gw, "j", None, None, path).status_code == 401
        assert raw_call(gw, "j", other, None, "/v1/models").status_code == 401  # not its socket
        assert raw_call(gw, "j", token, None, "/v1/models").status_code == 200
        assert raw_call(gw, "j", token, None, "/v1/anything").status_code == 404
        assert raw_call(gw, "j", "x", chat()).status_code == 401
    assert scripted_llm.upstream_calls == 0


def test_an_ended_jobs_token_and_socket_are_gone(scripted_llm) -> None:
    scripted_llm.script(echo_rule)
    with gateway(scripted_llm, tcp=True) as gw:
        token = gw.add_job("j", budget=5)
        folder, url = gw.socket_dir("j"), gw.url("j")
        with LlmClient.from_environment(gw.job_environment(token)) as client:
            client.complete(HELLO)
            gw.end_job("j")
            with pytest.raises(LlmError, match="cannot reach"):
                client.complete(HELLO)
        assert not folder.exists()
        with pytest.raises(httpx.ConnectError):
            httpx.post(f"{url}/chat/completions", json=chat(), headers={"authorization": token})
        assert gw.usage()["j"]["used"] == 1  # still readable, and no more spent
        again = gw.add_job("j", budget=5)  # a retry: a new token on a new socket
        assert again != token
        assert raw_call(gw, "j", token, chat()).status_code == 401
        assert raw_call(gw, "j", again, chat()).status_code == 200
    assert scripted_llm.upstream_calls == 2


def test_request_bodies_are_capped_without_being_buffered(scripted_llm) -> None:
    import socket

    from cwmb.llm.gateway import JobLimits

    with gateway(scripted_llm, limits=JobLimits(max_body_bytes=100_000)) as gw:
        token = gw.add_job("j")
        big = chat(messages=[{"role": "user", "content": "x" * 200_000}])
        answer = raw_call(gw, "j", token, big)
        assert answer.status_code == 413 and "100000 bytes" in answer.json()["error"]["message"]
        # An endless chunked body: refused once past the cap, long before the sender is done.
        with socket.socket(socket.AF_UNIX) as sock:
            sock.connect(str(gw.socket_dir("j") / "llm.sock"))
            sock.sendall(
                b"POST /v1/chat/completions HTTP/1.1\r\nhost: gw\r\n"
                + f"authorization: Bearer {token}\r\n".encode()
                + b"transfer-encoding: chunked\r\n\r\n"
            )
            chunk = b"%x\r\n%s\r\n" % (65536, b"x" * 65536)
            sent = 0
            sock.settimeout(0.05)
            reply = b""
            while not reply and sent < 50_000_000:
                with contextlib.suppress(BlockingIOError, TimeoutError):
                    sent += sock.send(chunk)
                with contextlib.suppress(TimeoutError):
                    reply = sock.recv(4096)
        assert reply.startswith(b"HTTP/1.1 413"), reply[:100]
        assert sent < 2_000_000
        deep = b'{"model": ' + b"[" * 40_000 + b"]" * 40_000 + b"}"
        transport = httpx.HTTPTransport(uds=str(gw.socket_dir("j") / "llm.sock"))
        with httpx.Client(transport=transport, base_url="http://gw") as http:
            nested = http.post(
                "/v1/chat/completions", content=deep, headers={"authorization": f"Bearer {token}"}
            )
        assert nested.status_code == 400
    assert scripted_llm.upstream_calls == 0


def test_a_job_flooding_its_socket_starves_no_one_and_holds_few_descriptors(
    scripted_llm,
) -> None:
    import os
    import socket

    scripted_llm.script(echo_rule)
    with gateway(scripted_llm) as gw:
        gw.add_job("flood")
        victim = LlmClient.from_environment(gw.job_environment(gw.add_job("victim")))
        before = len(os.listdir("/proc/self/fd"))
        held = []
        try:
            for _ in range(3000):  # the flooding job's side of its connections
                sock = socket.socket(socket.AF_UNIX)
                sock.connect(str(gw.socket_dir("flood") / "llm.sock"))
                held.append(sock)
            with victim:
                assert [victim.complete(HELLO).text for _ in range(5)] == ["hello"] * 5
            # The gateway's side: at most the cap of the flooding job's connections stay open.
            gateway_side = len(os.listdir("/proc/self/fd")) - before - len(held)
            assert gateway_side < 100, gateway_side
        finally:
            for sock in held:
                sock.close()


def test_a_connection_that_sends_nothing_is_closed(scripted_llm) -> None:
    import socket

    from cwmb.llm.gateway import JobLimits
    from cwmb.llm.job_server import ConnectionLimits

    limits = JobLimits(connections=ConnectionLimits(idle_timeout_s=0.2))
    with gateway(scripted_llm, limits=limits) as gw:
        gw.add_job("j")
        with socket.socket(socket.AF_UNIX) as sock:
            sock.connect(str(gw.socket_dir("j") / "llm.sock"))
            sock.settimeout(5)
            assert sock.recv(10) == b""  # closed by the gateway, not by the timeout here


def test_refusals_are_counted_but_only_the_first_are_logged(scripted_llm, tmp_path) -> None:
    from cwmb.llm.gateway import JobLimits

    log = tmp_path / "gateway.jsonl"
    with gateway(scripted_llm, log_path=log, limits=JobLimits(logged_refusals=3)) as gw:
        token = gw.add_job("j")
        for _ in range(10):
            assert raw_call(gw, "j", token, chat(n=2)).status_code == 400
        assert gw.usage()["j"]["refused"] == 10
    assert len(log.read_text().splitlines()) == 3


def test_a_jobs_calls_are_served_a_few_at_a_time_without_holding_up_others(scripted_llm) -> None:
    from cwmb.llm.gateway import JobLimits

    lock, running, most = threading.Lock(), {"busy": 0, "other": 0}, {"busy": 0, "other": 0}
    overlapped, at_limit = threading.Event(), threading.Event()

    def rule(request: dict) -> dict:
        who = request["messages"][0]["content"]
        with lock:
            running[who] += 1
            most[who] = max(most[who], running[who])
            if who == "other" and running["busy"]:
                overlapped.set()
            if running["busy"] == 2:
                at_limit.set()
        # The busy job's calls stay in flight until the other job's call has been seen.
        if who == "busy":
            overlapped.wait(timeout=5)
        with lock:
            running[who] -= 1
        return {"content": who}

    scripted_llm.script(rule)
    with gateway(scripted_llm, limits=JobLimits(max_inflight=2)) as gw:
        busy, other = gw.add_job("busy"), gw.add_job("other")

        def call(job: str, token: str) -> None:
            message = [{"role": "user", "content": job}]
            assert raw_call(gw, job, token, chat(messages=message)).status_code == 200

        threads = [threading.Thread(target=call, args=("busy", busy)) for _ in range(6)]
        for t in threads:
            t.start()
        assert at_limit.wait(timeout=10)
        call("other", other)
        for t in threads:
            t.join()
    assert most["busy"] == 2  # never more than its limit at once
    assert overlapped.is_set()  # the other job was served while the busy one was at its limit
    assert scripted_llm.upstream_calls == 7
