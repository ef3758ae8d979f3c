"""The command line: user errors end in one clear line and a non-zero exit; JSON has the contract's keys."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from cwmb import registry
from cwmb.cli import main

ENV = "CliffWalking-v1"


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code: int, err: str, *fragments: str) -> None:
    assert code != 0
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("cwmb: error:")
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in lines[0]


def test_unknown_environment(capsys):
    code, _, err = run_cli(capsys, "show", "NoSuchEnv-v9")
    assert_one_line_error(code, err, "unknown environment 'NoSuchEnv-v9'", "CartPole-v1")


def test_missing_program_file(capsys, tmp_path):
    missing = tmp_path / "nope.py"
    code, _, err = run_cli(capsys, "score", str(missing), "--env", ENV, "--isolation", "process")
    assert_one_line_error(code, err, "program file not found", "nope.py")


def test_corrupt_dataset_names_the_file(capsys, tmp_path, monkeypatch):

    spec = registry.get(ENV)
    target = tmp_path / ENV
    target.mkdir()
    for split in ("train", "heldout"):
        (target / f"{split}.npz").write_bytes(spec.split_path(split).read_bytes()[:300])
    monkeypatch.setenv("CWMB_TRAJECTORIES", str(tmp_path))
    code, _, err = run_cli(capsys, "score", "--reference", "--env", ENV, "--isolation", "process")
    assert_one_line_error(code, err, "checksum mismatch", "train.npz")


def test_score_json_has_every_field(capsys):
    code, out, _ = run_cli(
        capsys,
        "score",
        "--reference",
        "--env",
        ENV,
        "--split",
        "all",
        "--isolation",
        "process",
        "--json",
    )
    assert code == 0
    report = json.loads(out)
    for split in ("train", "heldout"):
        entry = report["splits"][split]
        for key in (
            "accuracy",
            "state_accuracy",
            "reward_accuracy",
            "done_accuracy",
            "solved",
            "n_transitions",
            "error",
            "first_mismatch",
        ):
            assert key in entry
        assert entry["accuracy"] == 1.0 and entry["solved"] and entry["first_mismatch"] is None


def test_a_wrong_program_reports_its_first_mismatch(capsys, tmp_path):
    program = tmp_path / "still.py"
    program.write_text(
        "class Environment:\n"
        "    def set_state(self, state):\n        self.s = state\n"
        "    def step(self, action):\n        return self.s, -1.0, False\n"
    )
    code, out, _ = run_cli(
        capsys,
        "score",
        str(program),
        "--env",
        ENV,
        "--split",
        "train",
        "--isolation",
        "process",
        "--json",
    )
    assert code == 0
    entry = json.loads(out)["splits"]["train"]
    assert 0.0 < entry["accuracy"] < 1.0 and not entry["solved"]
    mismatch = entry["first_mismatch"]
    assert mismatch["predicted"]["next_state"] == mismatch["state"]
    assert (
        mismatch["expected"]["next_state"] != mismatch["state"]
        or mismatch["expected"]["reward"] != -1.0
    )


def test_a_program_that_does_not_load_scores_zero(capsys, tmp_path):
    program = tmp_path / "broken.py"
    program.write_text("def broken(:\n")
    code, out, _ = run_cli(
        capsys, "score", str(program), "--env", ENV, "--isolation", "process", "--json"
    )
    assert code == 0
    entry = json.loads(out)["splits"]["train"]
    assert entry["accuracy"] == 0.0 and "SyntaxError" in entry["error"]


def test_plan_needs_exactly_one_policy(capsys):
    code, _, err = run_cli(capsys, "plan", "--random", "--reference", "--env", ENV)
    assert_one_line_error(code, err, "exactly one")


def test_unknown_preset(capsys):
    code, _, err = run_cli(capsys, "plan", "--random", "--env", ENV, "--preset", "huge")
    assert_one_line_error(code, err, "unknown planner preset 'huge'")


def test_envs_lists_all_declared(capsys):
    code, out, _ = run_cli(capsys, "envs", "--json")
    ids = [entry["id"] for entry in json.loads(out)]
    assert code == 0 and ids[:6] == registry.DISCRETE_ENVS


def test_console_script_exit_status():
    result = subprocess.run(
        [sys.executable, "-m", "cwmb.cli", "show", "Nope-v0"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2 and result.stderr.count("\n") == 1


@pytest.mark.parametrize("argv", [["score", "--env", ENV], ["plan", "--env", ENV]])
def test_missing_program_choice(capsys, argv):
    code, _, err = run_cli(capsys, *argv)
    assert_one_line_error(code, err)


def test_verify_passes_for_every_environment(capsys):
    """Checksums match and every reference scores 1.0 on both splits of all 18 environments."""
    code, out, _ = run_cli(capsys, "verify", "--isolation", "process")
    assert code == 0, out
    assert out.count("\nok ") + out.startswith("ok ") == len(registry.CANONICAL_ORDER) == 18


@pytest.mark.parametrize("isolation", ["process", pytest.param("docker", marks=pytest.mark.docker)])
def test_a_program_without_an_environment_class_says_so(capsys, tmp_path, isolation):
    program = tmp_path / "comments.py"
    program.write_text("# only comments, as a small model sometimes writes\n")
    code, out, _ = run_cli(
        capsys, "score", str(program), "--env", ENV, "--isolation", isolation, "--json"
    )
    assert code == 0
    entry = json.loads(out)["splits"]["train"]
    assert entry["accuracy"] == 0.0 and "defines no class `Environment`" in entry["error"]
