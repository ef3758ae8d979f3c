"""The two description tiers through the pipeline: `cwmb show`, the prompt a job's method gets,
the run id, manifest.json, score.json, job.json and summary.csv of a bench, resume across tiers,
and what a job container can read."""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from llm_server import code_reply

from cwmb import cli, registry
from cwmb.bench.config import BenchConfig
from cwmb.bench.launch import JOB_DESCRIPTION, DockerLauncher, JobSpec
from cwmb.sandbox import docker_backend

ENV = "CliffWalking-v1"
SPEC = registry.get(ENV)
TEXT = {tier: SPEC.description(tier) for tier in registry.DESCRIPTION_TIERS}
OTHER = {"standard": "detailed", "detailed": "standard"}


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def prompt_text(request) -> str:
    return "\n".join(m["content"] for m in request.messages)


# -- cwmb show ---------------------------------------------------------------------------------


def test_show_prints_the_standard_tier_by_default_and_the_detailed_one_when_asked(capsys):
    assert cli.main(["show", "CartPole-v1"]) == 0
    standard = capsys.readouterr().out
    assert cli.main(["show", "CartPole-v1", "--descriptions", "detailed"]) == 0
    detailed = capsys.readouterr().out
    cartpole = registry.get("CartPole-v1")
    assert cartpole.description("standard") in standard
    assert cartpole.description("detailed") not in standard
    assert cartpole.description("detailed") in detailed
    assert "standard description" in standard.splitlines()[0]
    assert "detailed description" in detailed.splitlines()[0]
    assert cli.main(["show", "CartPole-v1", "--descriptions", "detailed", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["descriptions"] == "detailed"
    assert data["description"] == cartpole.description("detailed")


@pytest.mark.parametrize(
    "argv",
    [
        ["show", "CartPole-v1"],
        ["job", "--method", "null", "--env", ENV, "--budget", "0", "--out", "/nonexistent"],
        ["bench", "--method", "null", "--envs", ENV, "--out", "/nonexistent"],
    ],
)
def test_a_bad_tier_is_one_clear_error(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main([*argv, "--descriptions", "simple"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "argument --descriptions: invalid choice: 'simple'" in err
    assert "standard" in err and "detailed" in err
    assert not Path("/nonexistent").exists()


# -- what a job's method gets -------------------------------------------------------------------


def job_args(out: Path, url: str, *extra: str) -> list[str]:
    return [
        "job", "--method", "zero-shot", "--env", ENV, "--budget", "1", "--out", str(out),
        "--llm-url", url, "--model", "openai/scripted", *extra,
    ]  # fmt: skip


@pytest.mark.parametrize("tier", [None, "standard", "detailed"])
def test_the_prompt_carries_the_chosen_tier(tmp_path, scripted_llm, tier):
    scripted_llm.script([code_reply(SPEC.reference_source())])
    out = tmp_path / "job"
    extra = () if tier is None else ("--descriptions", tier)
    assert cli.main(job_args(out, scripted_llm.base_url, *extra)) == 0
    chosen = tier or "standard"
    [request] = scripted_llm.chat_requests
    prompt = prompt_text(request)
    assert TEXT[chosen].strip() in prompt
    assert TEXT[OTHER[chosen]].strip() not in prompt
    info = json.loads((out / "job.json").read_text())
    assert info["descriptions"] == chosen
    assert info["description_sha256"] == sha256(TEXT[chosen])


def test_a_job_gets_the_description_file_it_is_handed(tmp_path, scripted_llm, capsys):
    given = tmp_path / "description.md"
    given.write_text("# A grid world\n\nThe text the host chose for this job.\n")
    scripted_llm.script([code_reply(SPEC.reference_source())])
    out = tmp_path / "job"
    args = job_args(out, scripted_llm.base_url, "--description-file", str(given))
    assert cli.main([*args, "--descriptions", "detailed"]) == 0
    prompt = prompt_text(scripted_llm.chat_requests[0])
    assert "The text the host chose for this job." in prompt
    assert TEXT["standard"].strip() not in prompt and TEXT["detailed"].strip() not in prompt
    info = json.loads((out / "job.json").read_text())
    assert info["descriptions"] == "detailed"
    assert info["description_sha256"] == sha256(given.read_text())

    capsys.readouterr()
    given.write_text("  \n")
    assert cli.main(job_args(tmp_path / "empty", scripted_llm.base_url, "--description-file",
                             str(given))) == 2  # fmt: skip
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"the description {given} is empty" in err
    assert scripted_llm.upstream_calls == 1


# -- a bench -------------------------------------------------------------------------------------


def test_standard_run_ids_are_unchanged_and_detailed_ones_say_so():
    config = BenchConfig(
        methods=["zero-shot"], envs=["CartPole-v1"], seeds=1, budget=3, model="openai/gpt-4o",
        model_base_url=None, preset="default", episodes=None, isolation="process",
        cache="read-write", jobs=1, quick=False,
    )  # fmt: skip
    # The id this configuration had before there were tiers.
    assert config.run_id() == "zero-shot-gpt-4o-b3-16a5e634"
    detailed = dataclasses.replace(config, descriptions="detailed").run_id()
    assert detailed.startswith("zero-shot-gpt-4o-b3-detailed-") and detailed != config.run_id()


def bench(
    base_url: str, out: Path, *extra: str, isolation: str = "process"
) -> subprocess.CompletedProcess[str]:
    options = "--method zero-shot --model openai/scripted --episodes 1 --budget 1 --no-report"
    command = [sys.executable, "-m", "cwmb.cli", "bench", *options.split(), "--envs", ENV,
               "--model-base-url", base_url, "--isolation", isolation, "--out", str(out), *extra]  # fmt: skip
    env = {"CWMB_CACHE_DIR": str(out / "cache"), "OPENAI_API_KEY": "sk-test"}
    return subprocess.run(
        command,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


@pytest.mark.parametrize("isolation", ["process", pytest.param("docker", marks=pytest.mark.docker)])
def test_a_detailed_bench_records_its_tier_everywhere(scripted_llm, tmp_path, isolation):
    scripted_llm.script(lambda request: code_reply(SPEC.reference_source()))
    result = bench(
        scripted_llm.base_url, tmp_path, "--descriptions", "detailed", isolation=isolation
    )
    assert result.returncode == 0, result.stderr[-3000:]
    [run] = [p for p in tmp_path.iterdir() if p.name != "cache"]
    assert run.name.startswith("zero-shot-scripted-b1-detailed-")
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["descriptions"] == "detailed" and manifest["isolation"]["jobs"] == isolation
    score = json.loads((run / "zero-shot" / ENV / "seed0" / "score.json").read_text())
    assert score["descriptions"] == "detailed"
    assert score["description_sha256"] == sha256(TEXT["detailed"])
    assert score["job"]["description_sha256"] == sha256(TEXT["detailed"])
    [row] = list(csv.DictReader((run / "summary.csv").open()))
    assert row["descriptions"] == "detailed" and float(row["train_accuracy"]) == 1.0
    prompt = prompt_text(scripted_llm.chat_requests[0])
    assert TEXT["detailed"].strip() in prompt

    # The same settings with the default tier go to another folder: tiers never mix.
    result = bench(scripted_llm.base_url, tmp_path, isolation=isolation)
    assert result.returncode == 0, result.stderr[-3000:]
    [standard] = [p for p in tmp_path.iterdir() if p.name not in ("cache", run.name)]
    assert standard.name.startswith("zero-shot-scripted-b1-") and "detailed" not in standard.name
    [row] = list(csv.DictReader((standard / "summary.csv").open()))
    assert row["descriptions"] == "standard"
    assert TEXT["standard"].strip() in prompt_text(scripted_llm.chat_requests[1])


def test_a_folder_is_not_resumed_with_another_tier(scripted_llm, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    manifest = json.dumps({"run_id": "run", "methods": ["zero-shot"]})  # from before tiers
    (run / "manifest.json").write_text(manifest)
    result = bench(scripted_llm.base_url, tmp_path, "--run-id", "run", "--descriptions", "detailed")
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert "holds a run with standard descriptions" in result.stderr
    assert "--descriptions detailed" in result.stderr
    assert (run / "manifest.json").read_text() == manifest
    assert sorted(p.name for p in run.iterdir()) == ["manifest.json"]
    assert scripted_llm.upstream_calls == 0


# -- what a job container can read ----------------------------------------------------------------


READ_DESCRIPTIONS = """
import json, pathlib, cwmb.envs
envs = pathlib.Path(cwmb.envs.__file__).parent
sizes = {str(p): p.stat().st_size for p in envs.glob("*/description*.md")}
print(json.dumps({"package": sizes, "given": open("%s").read()}))
"""


@pytest.mark.docker
@pytest.mark.parametrize("tier", ["standard", "detailed"])
def test_a_job_container_reads_only_the_description_it_is_given(tmp_path, tier):
    launcher = DockerLauncher()
    out = tmp_path / "out"
    out.mkdir()
    env_file = tmp_path / "env"
    env_file.write_text("")
    job = JobSpec(
        method="zero-shot", env=ENV, seed=0, budget=1, out_dir=out,
        train_path=SPEC.split_path("train"), descriptions=tier,
        description_path=SPEC.description_file(tier), job_env=lambda socket: {},
        socket_dir=None, timeout_s=60,
    )  # fmt: skip
    args = launcher.container_args(job, f"cwmb-test-tiers-{uuid.uuid4().hex[:12]}", env_file)
    script = READ_DESCRIPTIONS % JOB_DESCRIPTION
    result = subprocess.run(
        [*args, "--entrypoint", "python", launcher.image_id, "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    seen = json.loads(result.stdout)
    assert seen["given"] == TEXT[tier]
    # Every shipped description of every environment is there, and blank.
    assert len(seen["package"]) == 2 * len(registry.env_ids())
    assert set(seen["package"].values()) == {0}
    assert set(docker_backend.hidden_files(launcher.image_id)) >= set(seen["package"])
