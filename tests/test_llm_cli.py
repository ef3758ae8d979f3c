"""`cwmb llm check` and `cwmb cache`: results on success, one line and a non-zero exit on errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from llm_server import ScriptedLLM, counting_rule

from cwmb import cli


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for var in ("OPENAI_API_KEY", "CWMB_MODEL", "CWMB_MODEL_BASE_URL"):
        monkeypatch.delenv(var, raising=False)
    cache_dir = tmp_path / "cache"
    monkeypatch.setenv("CWMB_CACHE_DIR", str(cache_dir))
    return cache_dir


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def check_args(server: ScriptedLLM, *extra: str) -> list[str]:
    return [
        "llm",
        "check",
        "--model",
        "openai/scripted",
        "--model-base-url",
        server.base_url,
        *extra,
    ]


def test_check_prints_model_latency_tokens_and_cache_hit(scripted_llm, capsys) -> None:
    scripted_llm.script(counting_rule("fine"))
    code, out, _ = run(capsys, *check_args(scripted_llm))
    assert code == 0
    assert "openai/scripted" in out and "latency:" in out and "tokens:" in out
    assert "cache:       miss" in out and "fine 0" in out
    code, out, _ = run(capsys, *check_args(scripted_llm, "--cache", "replay", "--json"))
    result = json.loads(out)
    assert code == 0 and result["cache_hit"] is True and result["answer"] == "fine 0"
    assert scripted_llm.upstream_calls == 1


def one_line_error(capsys, *argv: str) -> str:
    code, out, err = run(capsys, *argv)
    assert code != 0
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("cwmb: error: "), err
    return lines[0]


def test_missing_api_key(capsys) -> None:
    assert "OPENAI_API_KEY" in one_line_error(capsys, "llm", "check", "--model", "openai/gpt-4o")


def test_unknown_provider(capsys) -> None:
    assert "unknown model provider" in one_line_error(capsys, "llm", "check", "--model", "acme/x")


def test_unreachable_endpoint(capsys) -> None:
    line = one_line_error(
        capsys, "llm", "check", "--model", "openai/x", "--model-base-url", "http://127.0.0.1:9/v1"
    )
    assert "cannot connect" in line


def test_replay_miss(scripted_llm, capsys) -> None:
    scripted_llm.script(["recorded"])
    assert run(capsys, *check_args(scripted_llm))[0] == 0
    line = one_line_error(
        capsys, *check_args(scripted_llm, "--cache", "replay", "--prompt", "new question")
    )
    assert "replay miss" in line and "new question" in line
    assert scripted_llm.upstream_calls == 1


def test_replay_without_any_cache(scripted_llm, capsys) -> None:
    assert "no LLM cache at" in one_line_error(
        capsys, *check_args(scripted_llm, "--cache", "replay")
    )


def test_exhausted_budget(scripted_llm, capsys) -> None:
    line = one_line_error(capsys, *check_args(scripted_llm, "--budget", "0"))
    assert "LLM budget exhausted" in line
    assert scripted_llm.upstream_calls == 0


def test_bad_cache_mode(scripted_llm, capsys) -> None:
    assert "unknown cache mode" in one_line_error(
        capsys, *check_args(scripted_llm, "--cache", "sometimes")
    )


def test_exit_code_of_the_real_command(scripted_llm) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "cwmb.cli", "llm", "check", "--model", "nope/x"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode != 0
    assert proc.stderr.strip().splitlines() == [
        "cwmb: error: unknown model provider 'nope' in 'nope/x'; known providers: openai, local "
        "(any OpenAI-compatible server is openai/NAME with --model-base-url URL)"
    ]


def test_cache_stats_export_import(scripted_llm, capsys, tmp_path: Path, monkeypatch) -> None:
    scripted_llm.script(counting_rule("shared"))
    assert run(capsys, *check_args(scripted_llm))[0] == 0
    code, out, _ = run(capsys, "cache", "stats", "--json")
    assert code == 0 and json.loads(out)["answers"] == 1
    exported = tmp_path / "calls.jsonl"
    assert run(capsys, "cache", "export", str(exported))[0] == 0
    assert len(exported.read_text().splitlines()) == 1

    # Another machine: an empty cache, the shared file, then a replay with no upstream call.
    monkeypatch.setenv("CWMB_CACHE_DIR", str(tmp_path / "elsewhere"))
    code, out, _ = run(capsys, "cache", "import", str(exported))
    assert code == 0 and "imported 1 answers" in out
    code, out, _ = run(capsys, *check_args(scripted_llm, "--cache", "replay", "--json"))
    assert code == 0 and json.loads(out)["answer"] == "shared 0"
    assert scripted_llm.upstream_calls == 1


def test_cache_import_of_a_bad_file(capsys, tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"not": "a record"}\n')
    assert "line 1" in one_line_error(capsys, "cache", "import", str(bad))
    assert "no such file" in one_line_error(capsys, "cache", "import", str(tmp_path / "none"))
