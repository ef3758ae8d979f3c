"""`cwmb speed` (cwmb/speed.py, cwmb/commands/speed.py) against the scripted OpenAI-compatible
server: both timings, the LLM's accuracy with the project's metric, the ratio, the JSON result."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from cwmb import registry
from cwmb.cli import main
from cwmb.dataset import load_split
from cwmb.llm.local import MAX_DEFAULT_N_CTX, N_CTX_ENV
from cwmb.speed import local_context
from cwmb.speed_prompt import Example, answer_text

ENV = "CartPole-v1"
_QUERY = re.compile(r"Observation: \[([^\]]*)\]\nAction: (\S+)")


def truthful_rule(wrong_reward: bool = False):
    """Answer each query with the recorded transition of the train split (optionally with a
    wrong reward), found by its state and action."""
    data = load_split(registry.get(ENV), "train")

    def rule(request: dict[str, Any]) -> str:
        match = _QUERY.fullmatch(request["messages"][-1]["content"])
        assert match, request["messages"][-1]
        state = np.array([float(v) for v in match.group(1).split(",")])
        rows = np.flatnonzero(
            np.all(np.isclose(data.obs, state, rtol=0, atol=1e-6), axis=1)
            & (data.action == int(match.group(2)))
        )
        i = int(rows[0])
        reward = -5.0 if wrong_reward else data.reward[i]
        return answer_text(
            Example(data.obs[i], data.action[i], data.next_obs[i], reward, data.terminated[i])
        )

    return rule


def run_speed(scripted_llm, tmp_path: Path, capsys, *extra: str) -> dict[str, Any]:
    out = tmp_path / "run" / "speed" / f"{ENV}.json"
    argv = ["speed", "--env", ENV, "--model", "openai/scripted"]
    argv += ["--model-base-url", scripted_llm.base_url, "--isolation", "process"]
    code = main([*argv, "--transitions", "4", "--json", "--out", str(out), *extra])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    printed = json.loads(captured.out)
    assert json.loads(out.read_text()) == printed
    return dict(printed)


def test_a_right_llm_scores_1_and_both_timings_and_the_ratio_are_reported(
    scripted_llm, tmp_path: Path, capsys
) -> None:
    scripted_llm.script(truthful_rule())
    result = run_speed(scripted_llm, tmp_path, capsys)
    assert scripted_llm.upstream_calls == 4
    assert result["llm_accuracy"]["solved"] and result["llm_accuracy"]["n_transitions"] == 4
    assert result["program"] == "reference" and result["program_accuracy"]["solved"]
    program, llm = result["program_timing"], result["llm_timing"]
    assert program["per_step_s"] > 0 and program["per_request_s"] > 0
    assert program["session_start_s"] > program["per_request_s"]
    assert len(llm["seconds"]) == 4
    assert llm["per_step_s"] == pytest.approx(float(np.median(llm["seconds"])))
    assert result["ratio"] == pytest.approx(llm["per_step_s"] / program["per_step_s"])
    assert result["ratio_per_request"] == pytest.approx(
        llm["per_step_s"] / program["per_request_s"]
    )
    # The prompt: description without the Interface section, 3 worked examples, then the query.
    messages = scripted_llm.requests[0].messages
    assert "## Interface" not in messages[1]["content"]
    assert len(messages) == 3 + 2 * 3 + 1


def test_progress_counts_transitions_and_the_cache_stays_off(
    scripted_llm, tmp_path: Path, capsys
) -> None:
    scripted_llm.script(truthful_rule())
    argv = ["speed", "--env", ENV, "--model", "openai/scripted", "--transitions", "2"]
    argv += ["--model-base-url", scripted_llm.base_url, "--isolation", "process"]
    assert main(argv) == 0
    assert main(argv) == 0  # the same requests again: live calls, never cache hits
    captured = capsys.readouterr()
    assert scripted_llm.upstream_calls == 4
    assert captured.err.count("LLM: transition 1/2") == 2
    assert captured.err.count("LLM: transition 2/2") == 2
    assert "ratio LLM / program step:" in captured.out and "LLM accuracy 1.0000" in captured.out


def test_a_wrong_reward_costs_the_reward_credit_only(scripted_llm, tmp_path: Path, capsys) -> None:
    scripted_llm.script(truthful_rule(wrong_reward=True))
    result = run_speed(scripted_llm, tmp_path, capsys, "--examples", "1", "--seed", "3")
    accuracy = result["llm_accuracy"]
    assert accuracy["reward_accuracy"] == 0.0
    assert accuracy["state_accuracy"] == 1.0 and accuracy["done_accuracy"] == 1.0
    assert len(scripted_llm.requests[0].messages) == 3 + 2 + 1


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--transitions", "0"], "--transitions must be at least 1"),
        (["--transitions", "100000"], "do not fit"),
        (["--program", "/nonexistent/program.py"], "program file not found"),
        (["--max-tokens", "0"], "--max-tokens must be at least 1"),
    ],
)
def test_bad_input_ends_in_one_clear_error(
    scripted_llm, capsys, extra: list[str], message: str
) -> None:
    argv = ["speed", "--env", ENV, "--model", "openai/scripted", "--isolation", "process"]
    assert main([*argv, "--model-base-url", scripted_llm.base_url, *extra]) != 0
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert scripted_llm.upstream_calls == 0


def test_an_unknown_environment_is_one_clear_error(capsys) -> None:
    assert main(["speed", "--env", "NoSuchEnv-v0"]) != 0
    assert "NoSuchEnv-v0" in capsys.readouterr().err


def test_the_embedded_models_context_grows_for_long_prompts_and_comes_back(monkeypatch) -> None:
    monkeypatch.delenv(N_CTX_ENV, raising=False)
    with local_context(40_000) as n_ctx:
        assert n_ctx == 40_192 and os.environ[N_CTX_ENV] == "40192"  # whole 256-token blocks
    assert N_CTX_ENV not in os.environ
    with local_context(100) as n_ctx:
        assert n_ctx == MAX_DEFAULT_N_CTX  # never smaller than the default
    monkeypatch.setenv(N_CTX_ENV, "16384")
    with local_context(100) as n_ctx:
        assert n_ctx == 16_384
    assert os.environ[N_CTX_ENV] == "16384"
