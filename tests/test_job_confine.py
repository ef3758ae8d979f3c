"""The confinement helper of process-mode jobs (cwmb.sandbox.job_confine), below the bench: it
starts a job only inside the confinement the launcher requires, and says what took effect."""

from __future__ import annotations

import os
import sys

import pytest

from cwmb.bench.launch import ProcessLauncher
from cwmb.sandbox import job_confine

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="namespaces are Linux's")


def _run(launcher: ProcessLauncher, command: list[str], require: list[str], tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    uid = job_confine.JOB_UID_BASE + 1 if os.geteuid() == 0 else None
    box = job_confine.JobBox(
        command, str(root), launcher.trees, launcher.links, uid=uid, require=require
    )
    return launcher._start_box(box, None, {"PATH": os.environ["PATH"]})


def test_a_job_whose_confinement_falls_short_is_not_started(tmp_path):
    launcher = ProcessLauncher()
    command = [sys.executable, "-c", "print('the job ran')"]
    result, report = _run(launcher, command, ["no-such-feature"], tmp_path)
    assert result.exit_code == 126
    assert "the job was not started: no no-such-feature" in result.output_tail
    assert "the job ran" not in result.output_tail
    assert set(report["features"]) == set(launcher.confinement["features"])


def test_the_probe_reports_what_took_effect(tmp_path):
    launcher = ProcessLauncher()
    result, report = _run(launcher, [sys.executable, "-c", "print('inside')"], [], tmp_path)
    assert result.exit_code == 0 and "inside" in result.output_tail
    assert report == launcher.confinement
    assert job_confine.describe(report).startswith("confined with ")
    if os.geteuid() == 0:
        assert set(job_confine.JOB_FEATURES) <= set(report["features"])


def test_an_unreadable_report_means_no_confinement():
    read, write = os.pipe()
    os.write(write, b"not json\n")
    os.close(write)
    report = job_confine.read_report(read)
    assert report["features"] == [] and "did not start" in report["problems"][0]
