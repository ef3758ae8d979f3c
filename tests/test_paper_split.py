"""The `paper` split: the numpy-only buffer reader refuses hostile pickles, the shipped files match
their provenance, the conversion derives episodes, truncation and masks as documented, and the
reference scores 1.0 where it is exact."""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
import subprocess
from collections import OrderedDict

import numpy as np
import pytest
from test_cli import assert_one_line_error, run_cli

from cwmb import registry
from cwmb.bench import launch
from cwmb.bench.launch import DockerLauncher, JobSpec
from cwmb.commands.score import _reference_verdict, splits_of
from cwmb.dataset import load_split, read_npz, sha256_file
from cwmb.errors import DatasetError
from cwmb.paper_buffers import BufferUnpickler, Opaque, UnsafePickleError, plain_values, read_buffer
from cwmb.paper_split import (
    BUFFER_PATH,
    LICENCE,
    PAPER_ENVS,
    REPOSITORY_URL,
    convert,
    read_source,
    to_transitions,
)
from cwmb.sandbox import job_view
from cwmb.scoring import SplitScore


class _RunsAShell:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


class _AnyClass:
    pass


def _buffer(n: int = 4, **overrides) -> dict:
    """A buffer laid out like the authors' (lists of per-row values, capacity-sized arrays)."""
    capacity = n + 2
    buffer = {
        "capacity": capacity,
        "obs": [np.full(2, i, dtype=np.float32) for i in range(n)],
        "next_obs": [np.full(2, i + 1, dtype=np.float32) for i in range(n)],
        "actions": [np.int64(i % 2) for i in range(n)],
        "rewards": np.arange(capacity, dtype=np.float32),
        "dones": np.zeros(capacity, dtype=bool),
        "traj_starts": np.zeros(capacity, dtype=np.int32),
        "idx": n,
        "full": False,
    }
    buffer.update(overrides)
    return buffer


def test_reader_returns_the_numbers_of_a_plain_buffer():
    fields = read_buffer(pickle.dumps(_buffer()))
    assert fields["idx"] == 4
    assert [float(v[0]) for v in fields["obs"]] == [0.0, 1.0, 2.0, 3.0]
    assert fields["rewards"].tolist() == [0.0, 1.0, 2.0, 3.0]  # cut to the filled rows
    assert fields["obs"][0].dtype == np.float32


def test_reader_refuses_a_reduce_that_runs_a_command(tmp_path):
    marker = tmp_path / "ran"
    hostile = pickle.dumps(_buffer(obs=[_RunsAShell(str(marker))] * 4))
    with pytest.raises(UnsafePickleError, match=r"global (posix|os|nt)\.system"):
        read_buffer(hostile)
    assert not marker.exists()


@pytest.mark.parametrize(
    ("value", "refused"),
    [
        (_AnyClass(), "test_paper_split._AnyClass"),
        (OrderedDict(a=1), "collections.OrderedDict"),
        (print, "builtins.print"),
    ],
)
def test_reader_refuses_any_other_global(value, refused):
    with pytest.raises(UnsafePickleError, match=refused.replace(".", r"\.")):
        read_buffer(pickle.dumps(_buffer(actions=[value] * 4)))


@pytest.mark.parametrize(
    "array",
    [
        np.array([1, "text"], dtype=object),
        np.zeros(2, dtype=[("a", "f8"), ("b", "i4")]),
        np.array(["ab", "cd"]),
    ],
    ids=["object", "structured", "unicode"],
)
def test_reader_refuses_arrays_that_are_not_numeric(array):
    with pytest.raises(UnsafePickleError, match="refusing"):
        read_buffer(pickle.dumps(_buffer(obs=[array] * 4)))


def test_reader_refuses_persistent_ids_and_garbage():
    class WithPid(pickle.Pickler):
        def persistent_id(self, obj):
            return "x" if isinstance(obj, np.ndarray) else None

    out = io.BytesIO()
    WithPid(out).dump(_buffer())
    with pytest.raises(UnsafePickleError, match="persistent"):
        read_buffer(out.getvalue())
    with pytest.raises(UnsafePickleError, match="not a readable buffer"):
        read_buffer(b"\x80\x04not a pickle")


def test_metadata_globals_become_inert_records_that_numbers_never_include():
    """torch.device (and the Gymnasium spaces) load as records of their arguments, run nothing,
    and are refused where a transition's numbers belong."""
    device = b"\x80\x04\x8c\x05torch\x94\x8c\x06device\x94\x93\x8c\x03cpu\x85R."
    record = BufferUnpickler(io.BytesIO(device)).load()
    assert isinstance(record, Opaque) and record.args == ("cpu",)
    with pytest.raises(UnsafePickleError, match="Opaque"):
        plain_values([record], "obs")


def test_conversion_derives_episodes_truncation_and_masks():
    spec = registry.get("CartPole-v1")
    paper = PAPER_ENVS["CartPole-v1"]
    n = 503  # a 500-step episode ending at the TimeLimit, then a 3-step one ending in a fall
    starts = np.r_[np.zeros(500), np.full(3, 500)].astype(np.int32)
    dones = np.zeros(n, dtype=bool)
    dones[[499, 502]] = True
    fields = {
        "idx": n,
        "obs": [np.zeros(4, dtype=np.float32)] * n,
        "next_obs": [np.zeros(4, dtype=np.float32)] * n,
        "actions": [np.int64(1)] * n,
        "rewards": np.ones(n, dtype=np.float32),
        "dones": dones,
        "traj_starts": starts,
    }
    data = to_transitions(spec, paper, fields)
    assert data.episode.tolist()[498:] == [0, 0, 1, 1, 1]
    assert data.step.tolist()[498:] == [498, 499, 0, 1, 2]
    assert np.flatnonzero(data.truncated).tolist() == [499]
    assert np.flatnonzero(data.terminated).tolist() == [502]
    assert data.score_state.all()  # classic control: no reset defect


def test_mujoco_first_rows_and_clipped_velocities_are_masked():
    spec = registry.get("Hopper-v4")
    obs = [np.zeros(11)] * 4
    obs[2] = np.r_[np.zeros(10), 10.0]  # a velocity at the clip bound
    fields = {
        "idx": 4,
        "obs": obs,
        "next_obs": [np.zeros(11)] * 4,
        "actions": [np.zeros(3)] * 4,
        "rewards": np.ones(4, dtype=np.float32),
        "dones": np.zeros(4, dtype=bool),
        "traj_starts": np.zeros(4, dtype=np.int32),
    }
    data = to_transitions(spec, PAPER_ENVS["Hopper-v4"], fields)
    assert data.score_state.tolist() == [False, True, False, True]
    assert data.action.dtype == np.float64  # as the authors stored it


def test_inconsistent_episodes_are_refused():
    fields = read_buffer(pickle.dumps(_buffer(traj_starts=np.array([0, 0, 1, 1, 0, 0]))))
    with pytest.raises(DatasetError, match="traj_starts"):
        to_transitions(registry.get("CartPole-v1"), PAPER_ENVS["CartPole-v1"], fields)


@pytest.mark.parametrize("env_id", list(PAPER_ENVS))
def test_shipped_paper_split_matches_its_manifest(env_id):
    spec = registry.get(env_id)
    entry = spec.datasets["paper"]
    data = load_split(spec, "paper")  # allow_pickle=False, sha256 checked against env.toml
    manifest = json.loads((spec.trajectories_dir / "MANIFEST.json").read_text())["splits"]["paper"]
    assert sha256_file(spec.split_path("paper")) == entry["sha256"] == manifest["sha256"]
    assert len(data) == entry["transitions"] == manifest["transitions"]
    source = manifest["source"]
    assert source["repository"] == REPOSITORY_URL and source["licence"] == LICENCE
    assert len(source["commit"]) == 40 and len(source["sha256"]) == 64
    assert source["path"].endswith(f"/{PAPER_ENVS[env_id].source_id}/train_buffer.pkl")
    assert manifest["continuity_breaks"] == 0
    assert (entry.get("reference_gap") is None) == (PAPER_ENVS[env_id].reference_gap is None)
    assert "paper_split" in spec.notes


def test_humanoids_have_no_paper_split():
    for env_id in ("Humanoid-v4", "HumanoidStandup-v4"):
        spec = registry.get(env_id)
        assert "paper" not in spec.datasets
        assert splits_of(spec, "all") == ["train", "heldout"]


@pytest.mark.parametrize("env_id", ["CartPole-v1", "Blackjack-v1"])
def test_reference_scores_one_on_the_paper_split(capsys, env_id):
    code, out, _ = run_cli(
        capsys, "score", "--reference", "--env", env_id, "--split", "paper", "--json",
        "--isolation", "process",
    )  # fmt: skip
    assert code == 0
    paper = json.loads(out)["splits"]["paper"]
    assert paper["accuracy"] == 1.0 and paper["solved"]
    assert paper["n_transitions"] == len(load_split(registry.get(env_id), "paper")) - (
        env_id == "Blackjack-v1"  # one hit on a hard 12-20: nothing of it is determined
    )


def test_split_all_includes_paper_where_published():
    assert splits_of(registry.get("CartPole-v1"), "all") == ["train", "heldout", "paper"]


def test_verify_reports_a_documented_gap_and_fails_an_unexpected_one():
    hopper, cartpole = registry.get("Hopper-v4"), registry.get("CartPole-v1")
    inexact = SplitScore(0.5, 0.4, 0.1, 1.0, False, 10)
    exact = SplitScore(1.0, 1.0, 1.0, 1.0, True, 10)
    assert _reference_verdict(hopper, "paper", inexact) is None
    assert "now exact" in (_reference_verdict(hopper, "paper", exact) or "")
    assert "not perfect" in (_reference_verdict(cartpole, "paper", inexact) or "")
    assert _reference_verdict(cartpole, "paper", exact) is None
    assert "not perfect" in (_reference_verdict(hopper, "train", inexact) or "")


def test_verify_says_why_the_reference_is_not_exact(capsys):
    code, out, _ = run_cli(capsys, "verify", "Ant-v4", "--isolation", "process")
    assert code == 0, out
    assert "paper" in out and "not exact: MuJoCo 4" in out


def test_jobs_never_see_the_paper_split(tmp_path, monkeypatch):
    """A job container mounts its train split, its description, its output folder and the gateway
    socket, nothing else from the host (the image itself holds no trajectories: .dockerignore)."""
    spec = registry.get("CartPole-v1")
    launcher = object.__new__(DockerLauncher)  # no engine needed to build the command
    launcher.image_id, launcher.memory_mb, launcher.cpus = "cwmb:test", 1024, 1.0
    blank = job_view.Withheld(("/opt/venv/cwmb/envs/CartPole-v1/description.md",), ())
    monkeypatch.setattr(launch, "withheld_in_image", lambda image, capabilities: blank)
    job = JobSpec(
        method="oracle", env=spec.id, seed=0, budget=1, out_dir=tmp_path,
        train_path=spec.split_path("train"), descriptions="standard",
        description_path=spec.description_path, job_env=lambda _: {},
        socket_dir=tmp_path / "s", timeout_s=1.0,
    )  # fmt: skip
    command = launcher.command(job, "name", tmp_path / "env")
    mounted = [command[i + 1].split(":")[0] for i, arg in enumerate(command) if arg == "--volume"]
    mounted = [source for source in mounted if source != "/dev/null"]  # blanks, not host files
    assert mounted == [
        str(spec.split_path("train").resolve()),
        str(spec.description_path.resolve()),
        str(tmp_path.resolve()),
        str(tmp_path / "s"),
    ]
    assert not any("paper.npz" in arg or "heldout.npz" in arg for arg in command)


def test_paper_split_of_an_unpublished_environment_is_one_clear_error(capsys):
    code, _, err = run_cli(
        capsys, "score", "--reference", "--env", "Humanoid-v4", "--split", "paper",
        "--isolation", "process",
    )  # fmt: skip
    assert_one_line_error(code, err, "no dataset split 'paper'")


def test_conversion_from_a_clone_records_its_provenance(tmp_path):
    """read_source + convert on a git repository laid out like the authors': the file, commit and
    sha256 in MANIFEST.json are the ones read, and the split loads without pickle."""
    paper = PAPER_ENVS["CartPole-v1"]
    clone = tmp_path / "clone"
    buffer_file = clone / BUFFER_PATH.format(source_id=paper.source_id)
    buffer_file.parent.mkdir(parents=True)
    n = 3
    payload = pickle.dumps(
        _buffer(
            n,
            obs=[np.full(4, i, dtype=np.float32) for i in range(n)],
            next_obs=[np.full(4, i + 1, dtype=np.float32) for i in range(n)],
        )
    )
    buffer_file.write_bytes(payload)
    git = ["git", "-C", str(clone), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run(["git", "init", "-q", str(clone)], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "buffers"], check=True)
    commit = subprocess.run(
        [*git, "rev-parse", "HEAD"], check=True, capture_output=True, text=True
    ).stdout.strip()

    spec = registry.get("CartPole-v1")
    toml_before = spec.toml_path.read_bytes()
    source = read_source(clone, "HEAD", paper)
    out = tmp_path / "out"
    entry = convert(spec, source, paper, out_dir=out)
    assert spec.toml_path.read_bytes() == toml_before
    manifest = json.loads((out / "MANIFEST.json").read_text())["splits"]["paper"]
    assert manifest["source"]["commit"] == commit
    assert manifest["source"]["sha256"] == hashlib.sha256(payload).hexdigest()
    assert entry["sha256"] == sha256_file(out / "paper.npz")
    data = read_npz(out / "paper.npz")
    assert data.obs[:, 0].tolist() == [0.0, 1.0, 2.0] and data.reward.dtype == np.float32
