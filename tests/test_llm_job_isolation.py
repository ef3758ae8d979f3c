"""A job never sees the API key: not in its environment, not in any file it can reach."""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from llm_server import echo_rule

from cwmb.llm.gateway import Gateway, job_environment
from cwmb.llm.models import select_model

# What a job does: read its environment (as the OS gave it), call the LLM, leave files behind.
JOB = r"""
import json, os
from pathlib import Path
from cwmb.llm.client import LlmClient
raw = Path("/proc/self/environ").read_bytes() if Path("/proc/self/environ").exists() else b""
Path("environ.json").write_text(json.dumps(dict(os.environ)))
Path("environ.raw").write_bytes(raw)
with LlmClient.from_environment() as client:
    Path("answer.txt").write_text(client.complete([{"role": "user", "content": "hello from job"}]).text)
print("job done")
"""


def test_job_environment_holds_only_the_gateway_address_token_and_model() -> None:
    host = {"PATH": "/bin", "OPENAI_API_KEY": "sk-x", "HOME": "/root", "AWS_SECRET": "y"}
    env = job_environment("tok", "openai/m", socket_path="/run/llm.sock", host_env=host)
    assert env == {
        "PATH": "/bin",
        "CWMB_LLM_TOKEN": "tok",
        "CWMB_MODEL": "openai/m",
        "CWMB_LLM_SOCKET": "/run/llm.sock",
        "PYTHONUNBUFFERED": "1",
    }


def test_api_key_is_absent_from_a_jobs_environment_and_files(
    scripted_llm, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = f"sk-never-in-a-job-{secrets.token_hex(8)}"
    monkeypatch.setenv("OPENAI_API_KEY", key)  # the host has it, as a user would set it
    scripted_llm.script(echo_rule)
    job_dir = tmp_path / "job"
    job_dir.mkdir()
    spec = select_model("openai/scripted", scripted_llm.base_url)
    with Gateway(spec) as gw:
        env = gw.job_environment(gw.add_job("m/Env/seed0", budget=3))
        proc = subprocess.run(
            [sys.executable, "-c", JOB],
            env=env,
            cwd=job_dir,
            capture_output=True,
            text=True,
            timeout=120,
        )
        socket_dir = gw.socket_dir("m/Env/seed0")
        gateway_files = list(socket_dir.iterdir())
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "job done"
    # The job worked through the gateway, and the gateway used the key upstream ...
    assert (job_dir / "answer.txt").read_text() == "hello from job"
    assert scripted_llm.chat_requests[0].headers["authorization"] == f"Bearer {key}"
    # ... yet the key is nowhere the job can look.
    seen = json.loads((job_dir / "environ.json").read_text())
    assert "OPENAI_API_KEY" not in seen
    assert key not in json.dumps(seen) and key not in proc.stdout + proc.stderr
    for path in job_dir.rglob("*"):
        assert key.encode() not in path.read_bytes(), path
    assert gateway_files == [socket_dir / "llm.sock"]  # the job's folder holds its socket only
