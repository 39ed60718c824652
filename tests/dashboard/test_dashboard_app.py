"""The dashboard's app through Starlette's TestClient: JSON endpoints against the report's own
readers, pages, escaping, read-only access, errors. The browser test is test_dashboard_browser.py."""

import json
import re
import socket
import sqlite3
from urllib.parse import quote

import numpy as np
import pytest
from evil_study import EVIL_PROBLEM, EVIL_STUDY, EVIL_SURROGATE
from report_study import FAILED, PROBLEMS, SURROGATES
from starlette.testclient import TestClient

from bnnbo.dashboard import create_app
from bnnbo.report.data import curve, load_report_data
from bnnbo.report.tables import mean_ranks
from bnnbo.results import load_results, load_runs
from bnnbo.storage import Store


@pytest.fixture(scope="module")
def client(partial_db):
    with TestClient(create_app(partial_db, refresh=2)) as c:
        yield c


def test_studies_json_counts_states_and_progress(client, partial_db):
    (s,) = client.get("/api/studies").json()
    runs = load_runs(partial_db, "rep")
    assert s["name"] == "rep"
    assert s["counts"] == {k: int((runs.status == k).sum()) for k in s["counts"]}
    assert (s["counts"]["failed"], s["counts"]["running"], s["counts"]["pending"]) == (1, 1, 1)
    assert s["evaluations"] == runs.n_evaluations.sum() and s["planned"] == runs.budget.sum()
    assert 0 < s["progress"] < 1 and s["active"] and s["elapsed_seconds"] >= 0


def test_study_json_is_the_reports_numbers(client, partial_db):
    d = client.get("/api/study/rep").json()
    data = load_report_data(partial_db, "rep")
    assert [p["label"] for p in d["problems"]] == list(PROBLEMS) and d["surrogates"] == list(SURROGATES)
    for p in d["problems"]:
        assert {s["surrogate"] for s in p["series"]} == set(SURROGATES)
        for s in p["series"]:
            c = curve(data, p["label"], s["surrogate"])
            assert np.allclose(s["mean"], c["mean"]) and s["x"] == c.evaluation.tolist()
            assert [v is None for v in s["se"]] == c.se.isna().tolist()
    # the ranking table is the report's, cell by cell
    ranks = next(t for t in d["tables"] if t["key"] == "ranks")
    expected = mean_ranks(data).display
    assert ranks["columns"] == list(expected.columns) and ranks["rows"] == expected.values.tolist()
    (failed,) = d["failed"]
    assert (failed["problem"], failed["surrogate"], failed["seed"]) == FAILED
    assert failed["error"] == "SurrogateError: HMC diverged" and "Traceback" in failed["traceback"]


def test_run_json_trace_diagnostics_and_choices(client, partial_db):
    runs = load_runs(partial_db, "rep")
    evals = load_results(partial_db, "rep")
    hmc = runs[(runs.surrogate == "hmc") & (runs.problem == "branin")].run_id.iloc[0]
    d = client.get(f"/api/run/{hmc}").json()
    mine = evals[evals.run_id == hmc]
    assert d["evaluations"]["trace"] == pytest.approx((-mine.trace).tolist())  # branin: minimised
    it = d["iterations"]
    assert len(it["iteration"]) == len(mine[~mine.initial]) and it["choice"] is None
    assert {"acceptance", "rhat_max", "ess_min", "divergences"} <= set(it["diagnostics"])
    assert all(0.6 <= a <= 0.9 for a in it["diagnostics"]["acceptance"])
    auto = runs[(runs.surrogate == "auto") & (runs.status == "finished")].run_id.iloc[0]
    it = client.get(f"/api/run/{auto}").json()["iterations"]
    assert set(it["choice"]) <= {"gp", "ibnn"} and set(it["scores"]) == {"gp", "ibnn"}


def test_pages_render_and_name_everything(client):
    home = client.get("/")
    assert home.status_code == 200 and 'href="/study/rep"' in home.text
    page = client.get("/study/rep")
    assert page.status_code == 200
    for label in (*PROBLEMS, *SURROGATES, "HMC diverged", "Mean rank per problem and overall"):
        assert label in page.text
    assert "Content-Security-Policy" in page.headers and "script-src 'self'" in page.headers["Content-Security-Policy"]
    run = client.get("/run/1")
    assert run.status_code == 200 and "Iterations" in run.text
    assert client.get("/fragment/study/rep").text.count('id="n-evaluations"') == 1


def test_pages_reference_only_their_own_origin(client):
    """No CDN, no fonts from elsewhere: every src / href is a path on this server (or data:)."""
    assert client.get("/static/plotly.min.js").status_code == 200
    for path in ("/", "/study/rep", "/run/1"):
        html = client.get(path).text
        urls = re.findall(r'(?:src|href|action)="([^"]*)"', html)
        assert urls and all(u.startswith(("/", "#", "data:")) and not u.startswith("//") for u in urls), urls
    js = client.get("/static/dashboard.js").text
    assert "http" not in js


def test_labels_holding_html_render_as_text(evil_db):
    with TestClient(create_app(evil_db)) as c:
        pages = [c.get("/"), c.get("/study/" + quote(EVIL_STUDY, safe="")), c.get("/run/1"), c.get("/run/2")]
        assert [p.status_code for p in pages] == [200] * 4
        for p in pages:
            assert re.findall(r"<script[^>]*>", p.text) == [] or all(
                re.fullmatch(r'<script src="/static/[\w.]+" defer>', t) for t in re.findall(r"<script[^>]*>", p.text)
            )
            assert "<b>gp" not in p.text and "<img" not in p.text
        assert "&lt;script&gt;window.__xss = &#34;study&#34;&lt;/script&gt;" in pages[1].text
        assert "&lt;script&gt;window.__xss = &#34;surrogate&#34;&lt;/script&gt;&lt;b&gt;gp" in pages[1].text
        assert "ValueError: &lt;script&gt;" in pages[3].text
        # the JSON keeps the labels as they are stored (the page's script shows them as text)
        d = c.get("/api/study/" + quote(EVIL_STUDY, safe="")).json()
        assert d["study"] == EVIL_STUDY and d["surrogates"] == [EVIL_SURROGATE]
        assert d["problems"][0]["label"] == EVIL_PROBLEM


def test_new_evaluations_show_without_restart(tmp_path):
    """The cache is keyed on the runs' state: a committed step is in the next answer."""
    from report_study import make_study

    url = f"sqlite:///{tmp_path / 's.db'}"
    make_study(url, partial=True)
    with TestClient(create_app(url)) as c:
        before = c.get("/api/study/rep").json()
        assert c.get("/api/study/rep").json()["version"] == before["version"]
        with Store(url) as store:
            run = next(r for r in store.runs(store.study_id("rep")) if r.status == "running")
            store.commit_step(
                run.id,
                [
                    {
                        "index": run.n_evaluations,
                        "batch": 99,
                        "x": [0.5, 0.5],
                        "y": [-1.0, -1.0],
                        "initial": False,
                        "fit_seconds": 0.1,
                        "acq_seconds": 0.1,
                        "diagnostics": {},
                    }
                ],
                None,
                None,
                "running",
            )
        after = c.get("/api/study/rep").json()
        assert after["version"] != before["version"]
        assert after["evaluations"] == before["evaluations"] + 1
        assert str(after["evaluations"]) in c.get("/fragment/study/rep").text


def test_store_is_read_only_and_never_blocks_the_writer(tmp_path):
    from report_study import make_study

    path = tmp_path / "s.db"
    make_study(f"sqlite:///{path}", partial=True)
    app = create_app(str(path))
    with pytest.raises(Exception, match="readonly"):
        app.state.data.store.set_status(1, "failed", "written by the dashboard")
    writer = sqlite3.connect(path, timeout=1)
    writer.execute("BEGIN IMMEDIATE")  # the writer holds the write lock, mid-transaction
    writer.execute("UPDATE runs SET error = 'x' WHERE id = 1")
    with TestClient(app) as c:
        assert c.get("/api/study/rep").status_code == 200
        assert c.get("/study/rep").status_code == 200
    writer.execute("UPDATE runs SET error = 'y' WHERE id = 2")  # and can still write afterwards
    writer.commit()
    writer.close()


def test_unknown_study_and_run_are_404_in_words(client):
    r = client.get("/study/nope")
    assert r.status_code == 404 and "no study &#39;nope&#39;" in r.text
    r = client.get("/api/run/99999")
    assert r.status_code == 404 and r.json() == {"error": "no run 99999 in the store"}


def test_localhost_server_answers_only_local_host_names(partial_db):
    with TestClient(create_app(partial_db, allowed_hosts=["127.0.0.1", "localhost"])) as c:
        assert c.get("/").status_code == 400  # Host: testserver, as a DNS-rebinding page would send
    with TestClient(
        create_app(partial_db, allowed_hosts=["127.0.0.1", "localhost"]), base_url="http://127.0.0.1:8080"
    ) as c:
        assert c.get("/").status_code == 200


def test_cli_refuses_bad_arguments_before_serving(tmp_path, partial_db, capsys):
    from bnnbo.cli import main

    assert main(["dashboard", "--db", str(tmp_path / "missing.db"), "--port", "8123"]) == 2
    assert "no bnnbo store" in capsys.readouterr().err
    assert main(["dashboard", "--db", partial_db, "--port", "70000"]) == 2
    assert "--port 70000: expected 1..65535" in capsys.readouterr().err
    with socket.socket() as s:  # a port in use: said before the app is built
        s.bind(("127.0.0.1", 0))
        s.listen()
        assert main(["dashboard", "--db", partial_db, "--port", str(s.getsockname()[1])]) == 2
        assert "cannot listen on 127.0.0.1 port" in capsys.readouterr().err


PG_URL = __import__("os").environ.get("BNNBO_TEST_POSTGRES_URL")


@pytest.mark.skipif(not PG_URL, reason="no PostgreSQL server: set BNNBO_TEST_POSTGRES_URL (CI does)")
def test_postgres_store_read_only():
    from report_study import make_study
    from sqlalchemy import text

    with Store(PG_URL) as store, store.engine.begin() as conn:  # a clean database
        conn.execute(text("DROP TABLE IF EXISTS run_states, evaluations, runs, studies, schema_version"))
    make_study(PG_URL, partial=True)
    app = create_app(PG_URL)
    with pytest.raises(Exception, match="read-only transaction"):
        app.state.data.store.set_status(1, "failed", "written by the dashboard")
    with TestClient(app) as c:
        d = c.get("/api/study/rep").json()
        assert [p["label"] for p in d["problems"]] == list(PROBLEMS)
        assert json.dumps(d)  # strict JSON
        assert c.get("/run/1").status_code == 200


@pytest.mark.parametrize("host", ["127.0.0.1", "0.0.0.0"])
def test_serve_says_where_it_listens_and_warns_off_localhost(host, partial_db, monkeypatch):
    import uvicorn

    from bnnbo.dashboard import serve

    served = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: served.update(app=app, **kw))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    said: list[str] = []
    serve(partial_db, host=host, port=port, say=said.append)
    assert served["host"] == host and served["port"] == port
    assert said[0].startswith(f"bnnbo dashboard on http://{host}:{port}/")
    noted = any("not localhost" in line and "no login" in line for line in said)
    assert noted == (host == "0.0.0.0")
    with TestClient(served["app"], base_url="http://evil.example") as c:  # DNS rebinding's Host header
        assert c.get("/").status_code == (400 if host == "127.0.0.1" else 200)
