"""The gate for docker-marked tests (tests/docker_gate.py): skip without an engine, but fail when
CWMB_REQUIRE_DOCKER=1 — also when a docker test skips itself. Runs pytest in a subprocess on a
tiny suite so the gate's cached engine check starts fresh each time."""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

TESTS_DIR = Path(__file__).resolve().parent

SUITE = """
import pytest

@pytest.mark.docker
def test_marked():
    pass

@pytest.mark.docker
def test_marked_skips_itself():
    pytest.skip("some capability is missing")

@pytest.mark.docker
@pytest.mark.xfail(reason="known bug", strict=True)
def test_marked_xfail():
    raise AssertionError

def test_unmarked_skips():
    pytest.skip("not a docker test")
"""


def outcomes(tmp_path: Path, *, require: bool, engine: bool) -> dict[str, str]:
    """Run SUITE through the gate; the engine check is forced to `engine`."""
    problem = "None" if engine else "'no Docker engine answers (test)'"
    tmp_path.mkdir(exist_ok=True)
    (tmp_path / "conftest.py").write_text(
        f"import sys\nsys.path.insert(0, {str(TESTS_DIR)!r})\n"
        "import docker_gate\n"
        f"docker_gate.engine_problem = lambda: {problem}\n"
        "from docker_gate import pytest_runtest_makereport, pytest_runtest_setup\n"
    )
    (tmp_path / "pytest.ini").write_text("[pytest]\nmarkers =\n    docker: needs Docker\n")
    (tmp_path / "test_suite.py").write_text(SUITE)
    env = {k: v for k, v in os.environ.items() if k != "CWMB_REQUIRE_DOCKER"}
    if require:
        env["CWMB_REQUIRE_DOCKER"] = "1"
    report = tmp_path / "report.xml"
    subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={report}"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        timeout=120,
    )
    result: dict[str, str] = {}
    for case in ET.parse(report).getroot().iter("testcase"):
        kinds = [child.tag for child in case if child.tag in {"failure", "error", "skipped"}]
        if not kinds:
            result[case.attrib["name"]] = "passed"
        else:
            skipped = case.find("skipped")
            xfail = skipped is not None and skipped.get("type") == "pytest.xfail"
            result[case.attrib["name"]] = "xfailed" if xfail else kinds[0]
    return result


def test_without_engine_docker_tests_skip(tmp_path: Path) -> None:
    assert outcomes(tmp_path, require=False, engine=False) == {
        "test_marked": "skipped",
        "test_marked_skips_itself": "skipped",
        "test_marked_xfail": "skipped",
        "test_unmarked_skips": "skipped",
    }


def test_without_engine_in_ci_docker_tests_fail(tmp_path: Path) -> None:
    assert outcomes(tmp_path, require=True, engine=False) == {
        "test_marked": "error",
        "test_marked_skips_itself": "error",
        "test_marked_xfail": "error",
        "test_unmarked_skips": "skipped",
    }


def test_with_engine_a_docker_test_that_skips_fails_only_in_ci(tmp_path: Path) -> None:
    expected = {
        "test_marked": "passed",
        "test_marked_skips_itself": "skipped",
        "test_marked_xfail": "xfailed",
        "test_unmarked_skips": "skipped",
    }
    assert outcomes(tmp_path / "dev", require=False, engine=True) == expected
    ci = outcomes(tmp_path / "ci", require=True, engine=True)
    assert ci == {**expected, "test_marked_skips_itself": "failure"}
