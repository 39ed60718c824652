"""Screenshots of the dashboard's three pages for docs/dashboard.md, taken from a live study.

Runs a small real study (``bnnbo run``; one surrogate configured to fail, so the page has a
failure to show) and ``bnnbo dashboard`` on the same store, waits until the study is about
three quarters done, then has headless Chromium (through chromedriver) save the studies page,
the study page and one HMC run's page while the study is still running.

    python benchmarks/dashboard_screenshots.py --out docs/figures
    python benchmarks/dashboard_screenshots.py --out docs/figures --db /tmp/bnnbo-dash-XXXX/demo.db  # again
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

STUDY = """
name = "dashboard-demo"
description = "Branin and BraninCurrin, small budgets: GP, I-BNN, HMC BNN, auto; one misconfigured HMC"
seeds = 2
acq_optimizer = "paper"
[problems.branin]
n_init = 5
q = 1
iterations = 10
[problems.branincurrin]
n_init = 6
q = 2
iterations = 4
[surrogates.gp]
[surrogates.ibnn]
[surrogates.hmc]
settings = { widths = [32, 32], pretrain_steps = 200, n_burn_in = 100, n_samples = 64, warm_burn_in = 40 }
[surrogates.auto]
# a step size far too large with adaptation off: the divergence check fails the run
[surrogates.hmc-bad-step]
surrogate = "hmc"
settings = { widths = [32, 32], pretrain_steps = 50, n_burn_in = 20, n_samples = 16, step_size = 5.0, adapt_step_size = false, max_divergent = 0.1 }
"""


def progress(db: Path) -> tuple[int, int]:
    with sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True, timeout=10) as conn:
        done = conn.execute("SELECT count(*) FROM evaluations").fetchone()[0]
        planned = conn.execute("SELECT coalesce(sum(budget), 0) FROM runs").fetchone()[0]
    return done, planned


def running(db: Path) -> bool:
    with sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True, timeout=10) as conn:
        return conn.execute("SELECT count(*) FROM runs WHERE status = 'running'").fetchone()[0] > 0


def shoot(driver, url: str, path: Path, max_height: int, plots: bool) -> None:
    driver.set_window_size(1280, 900)
    driver.get(url)
    end = time.monotonic() + 60
    while plots and not driver.execute_script("return document.body.dataset.drawn"):
        if time.monotonic() > end:
            raise RuntimeError(f"{url} did not draw")
        time.sleep(0.2)
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1280, min(height, max_height))
    time.sleep(1.0)  # Plotly's responsive resize
    driver.save_screenshot(str(path))
    print(f"wrote {path}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="docs/figures")
    ap.add_argument("--at", type=float, default=0.75, help="share of the study done when shooting")
    ap.add_argument(
        "--db",
        default=None,
        help="a store of an earlier call: resume its study and shoot "
        "once it runs (default: a new store in a temporary folder)",
    )
    args = ap.parse_args()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="bnnbo-dash-"))
    db = Path(args.db).resolve() if args.db else tmp / "demo.db"
    (tmp / "study.toml").write_text(STUDY)
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(root)}
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    run = subprocess.Popen(
        [sys.executable, "-m", "bnnbo.cli", "run", str(tmp / "study.toml"), "--db", str(db), "--quiet"],
        env=env,
        stdout=(tmp / "run.log").open("w"),
        stderr=subprocess.STDOUT,
    )
    dash = None
    try:
        while not db.exists() or progress(db)[1] == 0:
            time.sleep(1)
        dash = subprocess.Popen(
            [sys.executable, "-m", "bnnbo.cli", "dashboard", "--db", str(db), "--port", str(port)],
            env=env,
            stdout=(tmp / "dash.log").open("w"),
            stderr=subprocess.STDOUT,
        )
        while True:
            done, planned = progress(db)
            if (done >= args.at * planned and running(db)) or run.poll() is not None:
                break
            print(f"study at {done} / {planned} evaluations", flush=True)
            time.sleep(2)
        base = f"http://127.0.0.1:{port}"
        for _ in range(120):
            try:
                urllib.request.urlopen(base + "/api/studies", timeout=2)
                break
            except OSError:
                time.sleep(0.5)
        with sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True) as conn:
            hmc = conn.execute(
                "SELECT id FROM runs WHERE surrogate = 'hmc' AND status = 'finished' ORDER BY id LIMIT 1"
            ).fetchone()[0]
        options = webdriver.ChromeOptions()
        options.binary_location = os.environ.get("BNNBO_CHROMIUM") or shutil.which("chromium")
        for flag in (
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
        ):
            options.add_argument(flag)
        driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
        try:
            shoot(driver, base + "/", out / "dashboard-studies.png", 700, plots=False)
            shoot(driver, base + "/study/dashboard-demo", out / "dashboard-study.png", 2600, plots=True)
            shoot(driver, base + f"/run/{hmc}", out / "dashboard-run.png", 2600, plots=True)
        finally:
            driver.quit()
    finally:
        for p in (run, dash):
            if p is not None:
                p.terminate()
                p.wait(30)
    print(f"store and logs: {tmp}")


if __name__ == "__main__":
    main()
