"""A real browser against a live dashboard: ``bnnbo run`` writes a study while ``bnnbo dashboard``
serves the same store and headless Chromium (driven through chromedriver) reads the pages.

Checks: every problem and surrogate is named, the Plotly figures rendered (SVG in the DOM), no
console errors, no request to any other origin (the browser resolves no other host name either),
a new evaluation shows after a reload and by the live update, HTML in labels stays text.
Skipped where Chromium / chromedriver / selenium are missing; CI installs them.
"""

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import quote

import pytest
from evil_study import EVIL_STUDY, EVIL_SURROGATE, write_evil_study

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (the dev extra has it)")
CHROMIUM = os.environ.get("BNNBO_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None or DRIVER is None,
    reason="Chromium / chromedriver not found (Debian: apt-get install chromium chromium-driver); CI installs them",
)

ROOT = Path(__file__).parents[2]
STUDY = """
name = "live"
seeds = 1
acq_optimizer = "paper"
[problems.branin]
n_init = 4
q = 1
iterations = 60
[problems.hartmann6]
n_init = 6
q = 1
iterations = 10
[surrogates.gp]
[surrogates.ibnn]
"""
PROBLEMS, SURROGATES = ("branin", "hartmann6"), ("gp", "ibnn")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def bnnbo(*args: str, log: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "bnnbo.cli", *args], cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT
    )


def wait_for(what: str, check, timeout: float, every: float = 0.2):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = check()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def stored_evaluations(db: Path) -> int:
    import sqlite3

    with sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True, timeout=10) as conn:
        return conn.execute(
            "SELECT count(*) FROM evaluations e JOIN runs r ON r.id = e.run_id "
            "JOIN studies s ON s.id = r.study_id WHERE s.name = 'live'"
        ).fetchone()[0]


@pytest.fixture(scope="module")
def started(tmp_path_factory):
    """``bnnbo run`` and ``bnnbo dashboard`` on one store, both starting (not yet up)."""
    from bnnbo.storage import Store

    tmp = tmp_path_factory.mktemp("live")
    db = tmp / "live.db"
    Store(db).close()  # the schema, so both processes start at once
    (tmp / "live.toml").write_text(STUDY)
    port = free_port()
    run = bnnbo("run", str(tmp / "live.toml"), "--db", str(db), "--quiet", log=tmp / "run.log")
    dash = bnnbo("dashboard", "--db", str(db), "--port", str(port), "--refresh", "1", log=tmp / "dash.log")
    try:
        yield run, dash, f"http://127.0.0.1:{port}", db, tmp
    finally:
        for p in (run, dash):
            p.terminate()
        for p in (run, dash):
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()


@pytest.fixture(scope="module")
def live(started, browser):
    """The study has evaluations and the dashboard answers (Chromium started meanwhile);
    yields (base URL, store path)."""
    run, dash, base, db, tmp = started

    def up():
        assert dash.poll() is None, (tmp / "dash.log").read_text()
        try:
            return urllib.request.urlopen(base + "/api/studies", timeout=2).status == 200
        except OSError:
            return False

    wait_for("the dashboard to answer", up, 90)
    wait_for("the study's first evaluations", lambda: run.poll() is None and stored_evaluations(db) > 0, 90)
    return base, db


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1366,900",
        f"--user-data-dir={tmp_path_factory.mktemp('profile')}",
        # no name but the dashboard's resolves: a request elsewhere fails (and logs an error)
        "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def open_page(driver, url: str, plots: bool) -> None:
    driver.get(url)
    if plots:  # the page's script draws after fetching its JSON; it counts its draws on <body>
        wait_for(f"{url} to draw", lambda: driver.execute_script("return document.body.dataset.drawn"), 30)


def assert_clean(driver, base: str) -> None:
    """No console error (CSP violations, failed loads, script errors), nothing from elsewhere."""
    errors = [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    assert errors == []
    urls = driver.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name)"
        ".concat(performance.getEntriesByType('navigation').map(e => e.name))"
    )
    assert urls and all(u.startswith(base + "/") for u in urls), urls


def shown_count(driver) -> int:
    return int(unstale(lambda: driver.find_element("id", "n-evaluations").get_attribute("data-count")))


def test_dashboard_follows_a_running_study_in_chromium(started, live, browser):
    base, db = live
    open_page(browser, base + "/", plots=False)
    # the page replaces its live fragment every second: each read below is one settled look
    href = unstale(lambda: browser.find_element("link text", "live").get_attribute("href"))
    assert href == base + "/study/live"
    assert browser.find_elements("css selector", "#table-studies progress")
    assert_clean(browser, base)

    open_page(browser, base + "/study/live", plots=True)

    def look():
        text = browser.find_element("tag name", "body").text
        figures = browser.find_elements("css selector", "#plots .js-plotly-plot")
        drawn = [bool(f.find_elements("css selector", "svg.main-svg")) for f in figures]
        curves = browser.find_elements("css selector", "#plots .js-plotly-plot .scatterlayer .trace path.js-line")
        legend = " ".join(e.text for e in browser.find_elements("css selector", "#plots .legendtext"))
        return text, drawn, len(curves), legend

    text, drawn, curves, legend = unstale(look)
    words = set(text.replace(",", " ").split())
    assert set(PROBLEMS) | set(SURROGATES) <= words
    assert len(drawn) == len(PROBLEMS) and all(drawn)
    assert curves  # at least one drawn mean line
    assert "gp (1 run" in legend
    assert_clean(browser, base)

    # a new evaluation, committed by the study: on the page by the live update (every second here) ...
    n0 = shown_count(browser)
    wait_for("the study to store another evaluation", lambda: stored_evaluations(db) > n0, 60)
    t0 = time.monotonic()
    wait_for("the live update", lambda: shown_count(browser) > n0, 10)
    live_s = time.monotonic() - t0
    # the fresh fragment kept the drawn figures in their place
    assert len(browser.find_elements("css selector", "#live #plots .js-plotly-plot svg.main-svg")) >= len(PROBLEMS)
    # ... and in the page the server renders on a reload
    stored, t0 = stored_evaluations(db), time.monotonic()
    browser.refresh()
    wait_for("the reloaded page", lambda: shown_count(browser) >= stored > n0, 10)
    print(
        f"a new evaluation showed {live_s:.1f} s after being stored (live update); a reload showed "
        f"everything stored in {time.monotonic() - t0:.1f} s"
    )
    assert_clean(browser, base)

    run_link = unstale(lambda: browser.find_element("css selector", "#table-runs a").get_attribute("href"))
    open_page(browser, run_link, plots=True)
    assert len(browser.find_elements("css selector", "#plots .js-plotly-plot svg.main-svg")) >= 2
    assert "branin / gp / seed 0" in unstale(lambda: browser.find_element("tag name", "h1").text)
    assert_clean(browser, base)


def unstale(read, tries: int = 10):
    """``read()``, again if the live update replaced an element between its find and its read."""
    from selenium.common.exceptions import StaleElementReferenceException

    for i in range(tries):
        try:
            return read()
        except StaleElementReferenceException:
            if i == tries - 1:
                raise
            time.sleep(0.1)


def test_html_in_labels_stays_text_in_chromium(started, live, browser):
    base, db = live
    write_evil_study(f"sqlite:///{db}")  # beside the running study, as another writer would
    open_page(browser, base + "/study/" + quote(EVIL_STUDY, safe=""), plots=True)
    assert browser.execute_script("return window.__xss") is None
    assert browser.find_element("tag name", "h1").text == f"Study {EVIL_STUDY}"
    legend = " ".join(e.text for e in browser.find_elements("css selector", "#plots .legendtext"))
    assert EVIL_SURROGATE in legend  # Plotly shows the label, tags and all, as text
    scripts = browser.execute_script("return Array.from(document.scripts).map(s => s.src)")
    assert scripts == [base + "/static/plotly.min.js", base + "/static/dashboard.js"]
    assert_clean(browser, base)
    open_page(
        browser,
        base + "/run/" + str(browser.execute_script("return document.querySelector('#table-runs a').textContent")),
        plots=True,
    )
    assert browser.execute_script("return window.__xss") is None
    assert_clean(browser, base)
