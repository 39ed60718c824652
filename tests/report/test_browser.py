"""A real browser opens the HTML report from disk: headless Chromium dumps the DOM after load
(the report's inline script has written each image's natural width into it) and takes a
screenshot. Skipped where Chromium is not installed; CI installs the Debian package."""

import html
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from report_study import PROBLEMS, SURROGATES


def _find_chromium() -> str | None:
    for candidate in (
        os.environ.get("BNNBO_CHROMIUM"),
        shutil.which("chromium"),
        shutil.which("chromium-browser"),
        "/usr/bin/chromium",
    ):
        if candidate and Path(candidate).exists():
            return candidate
    return None


CHROMIUM = _find_chromium()
pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="headless Chromium not found (Debian: apt-get install chromium; or set BNNBO_CHROMIUM); CI installs it",
)
# no sandbox (root in a container), no GPU, and nothing that reaches the network
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)


def chromium(profile: Path, *args: str) -> subprocess.CompletedProcess:
    """One browser process with a fresh empty profile."""
    return subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )


def page_text(dom: str) -> str:
    body = re.sub(r"<(script|style)\b.*?</\1>", " ", dom, flags=re.DOTALL)
    return html.unescape(re.sub(r"<[^>]+>", " ", body))


@pytest.mark.parametrize("which", ["report", "partial_report"])
def test_chromium_loads_the_report_from_disk(which, request, tmp_path):
    report: Path = request.getfixturevalue(which)
    url = report.resolve().as_uri()
    run = chromium(tmp_path / "dom", "--dump-dom", url)
    assert run.returncode == 0, run.stderr[-2000:]
    dom = run.stdout
    body = re.search(r"<body([^>]*)>", dom).group(1)
    assert f'data-images-total="{len(PROBLEMS)}"' in body and f'data-images-loaded="{len(PROBLEMS)}"' in body
    widths = [int(w) for w in re.findall(r'data-natural-width="(\d+)"', dom)]
    assert len(widths) == len(PROBLEMS) and all(w > 0 for w in widths)
    words = set(re.findall(r"[\w.+-]+", page_text(dom)))
    assert set(PROBLEMS) | set(SURROGATES) <= words

    shot = tmp_path / "report.png"
    run = chromium(tmp_path / "shot", f"--screenshot={shot}", "--window-size=1366,900", url)
    assert run.returncode == 0, run.stderr[-2000:]
    assert shot.read_bytes().startswith(b"\x89PNG") and shot.stat().st_size > 20_000
