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


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory):
    run_dir = synth.make_results(tmp_path_factory.mktemp("results") / "run-browser")
    return build_report(run_dir)


def test_figures_load_in_chromium(report, tmp_path: Path) -> None:
    probed = tmp_path / "probe.html"
    probed.write_text(report.html.read_text().replace("</body>", PROBE + "</body>"))
    result = browse(
        ["--virtual-time-budget=10000", "--dump-dom", probed.as_uri()], tmp_path / "profile"
    )
    match = re.search(r'<pre id="figure-probe">(.*?)</pre>', result.stdout, re.S)
    assert match, f"the probe did not run; stderr: {result.stderr[-2000:]}"
    figures = json.loads(match.group(1).replace("&quot;", '"'))
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
