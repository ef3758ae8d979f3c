"""The HTML report renders in a real browser: headless Chromium loads report.html from disk, every
embedded figure decodes to an image of nonzero size, and a screenshot shows the figures' colors.

Needs Chromium (Debian: `apt-get install -y chromium`; or set CWMB_CHROMIUM to a Chrome/Chromium
binary). Without it the test fails and says so: a missing browser must not pass silently."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import results_synthetic as synth
from PIL import Image

from analysis.figures import method_colors
from analysis.report import build_report

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--hide-scrollbars",
]
# Writes what the browser made of each figure into the page, once everything has loaded.
PROBE = """<script>
window.addEventListener("load", function () {
  var found = [];
  document.querySelectorAll("figure img").forEach(function (img) {
    var box = img.getBoundingClientRect();
    found.push({id: img.closest("figure").id, complete: img.complete,
                naturalWidth: img.naturalWidth, naturalHeight: img.naturalHeight,
                width: box.width, height: box.height});
  });
  var out = document.createElement("pre");
  out.id = "figure-probe";
  out.textContent = JSON.stringify(found);
  document.body.appendChild(out);
});
</script>"""

pytestmark = pytest.mark.slow


def chromium() -> str:
    binary = os.environ.get("CWMB_CHROMIUM") or next(
        (found for name in CANDIDATES if (found := shutil.which(name))), None
    )
    if binary is None:
        pytest.fail(
            "no Chromium found for the HTML report test: install it (Debian: "
            "`apt-get install -y chromium`) or set CWMB_CHROMIUM to a Chrome/Chromium binary"
        )
    return binary


def browse(args: list[str], profile: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [chromium(), *FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )


def probe_figures(html: Path, tmp_path: Path) -> list[dict]:
    """What Chromium made of each figure of the page `html` (see PROBE)."""
    probed = tmp_path / "probe.html"
    probed.write_text(html.read_text().replace("</body>", PROBE + "</body>"))
    result = browse(
        ["--virtual-time-budget=10000", "--dump-dom", probed.as_uri()], tmp_path / "profile"
    )
    match = re.search(r'<pre id="figure-probe">(.*?)</pre>', result.stdout, re.S)
    assert match, f"the probe did not run; stderr: {result.stderr[-2000:]}"
    return list(json.loads(match.group(1).replace("&quot;", '"')))


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory):
    run_dir = synth.make_results(tmp_path_factory.mktemp("results") / "run-browser")
    return build_report(run_dir)


def test_figures_load_in_chromium(report, tmp_path: Path) -> None:
    figures = probe_figures(report.html, tmp_path)
    expected = sorted(p.stem for p in report.figures if p.suffix == ".png")
    assert sorted(f["id"].removeprefix("figure-") for f in figures) == expected
    for figure in figures:
        assert figure["complete"], figure
        assert figure["naturalWidth"] > 300 and figure["naturalHeight"] > 200, figure
        assert figure["width"] > 100 and figure["height"] > 50, figure
    # Each GIF-MCTS job's own tree, shown at full size (scrolled, never shrunk).
    trees = [f for f in figures if f["id"].startswith("figure-tree_job_gif_mcts_")]
    assert len(trees) == len(synth.ENVS) * len(synth.SEEDS), figures
    for tree in trees:
        assert tree["width"] == pytest.approx(tree["naturalWidth"], abs=1), tree


def test_screenshot_shows_the_figures(report, tmp_path: Path) -> None:
    shot = tmp_path / "report.png"
    browse(
        ["--window-size=1280,2600", f"--screenshot={shot}", report.html.as_uri()],
        tmp_path / "profile",
    )
    pixels = np.asarray(Image.open(shot).convert("RGB")).astype(int)
    assert pixels.shape[0] >= 2000 and pixels.shape[1] >= 1200
    assert pixels.std() > 20, "the screenshot is blank"
    # The first method's bar color appears only in the figures (never in the page's own styles).
    color = np.array([round(255 * c) for c in method_colors(synth.METHODS)["gif-mcts"]])
    near = np.abs(pixels - color).sum(axis=2) <= 12
    assert near.sum() > 5000, f"only {near.sum()} pixels of the figures' bar color"


# -- axes of all-zero and mixed runs -------------------------------------------------------------


def zero_out(run_dir: Path) -> Path:
    """Turn a synthetic run into one where no program loaded: every accuracy and R is 0."""
    for path in run_dir.glob("*/*/seed*/score.json"):
        score = json.loads(path.read_text())
        if score.get("splits"):
            for split in score["splits"].values():
                for key in ("accuracy", "state_accuracy", "reward_accuracy", "done_accuracy"):
                    split[key] = 0.0
            score["planning"]["normalized_return"] = 0.0
            score["status"] = "failed to load"
        path.write_text(json.dumps(score))
    return run_dir


def report_with_axes(run_dir: Path, monkeypatch: pytest.MonkeyPatch):
    """Build the report, recording each saved figure's y range (figure key -> (low, high))."""
    import analysis.figures as figures

    limits: dict[str, tuple[float, float]] = {}
    save = figures.save

    def recording_save(fig, out_dir, key):
        limits[key] = tuple(float(v) for v in fig.axes[0].get_ylim())
        return save(fig, out_dir, key)

    monkeypatch.setattr(figures, "save", recording_save)
    return build_report(run_dir), limits


@pytest.mark.parametrize("zero", [True, False], ids=["all-zero", "mixed"])
def test_reports_keep_sane_axes_in_chromium(
    zero: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_dir = synth.make_results(tmp_path / "run")
    report, limits = report_with_axes(zero_out(run_dir) if zero else run_dir, monkeypatch)
    for key in ("accuracy_per_env", "heldout_accuracy_per_env"):
        low, high = limits[key]
        assert low == 0.0 and 1.0 <= high <= 1.1, (key, low, high)
    low, high = limits["return_per_env"]
    assert low <= 0.0 and high >= 1.0 and high - low < 3, (low, high)
    if zero:
        assert "failed to load" in report.html.read_text()
    shown = {f["id"].removeprefix("figure-"): f for f in probe_figures(report.html, tmp_path)}
    for key in ("accuracy_per_env", "heldout_accuracy_per_env", "return_per_env"):
        assert shown[key]["complete"] and shown[key]["naturalHeight"] > 200, shown.get(key)
