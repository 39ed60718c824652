"""Heartbeats: a run whose driver died (SIGKILL) shows as "interrupted (resumable)" in
``bnnbo status`` once its heartbeat is older than the grace period, and resumes with every
evaluation once; stores made before the heartbeat column still open."""

import os
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone

import pytest
from test_runner import _evaluations, _safe, run, study_text

from bnnbo.cli import main
from bnnbo.errors import ConfigError
from bnnbo.results import load_runs
from bnnbo.runner import Heartbeat
from bnnbo.storage import Store, shown_status, stale_after


def _status(db, capsys, *extra):
    capsys.readouterr()
    assert main(["status", "--db", str(db), *extra]) == 0
    return capsys.readouterr().out


def test_sigkilled_run_shows_interrupted_within_seconds_then_resumes(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("bnnbo.cli.console.width", 200)  # one line per run, whatever the terminal
    text = study_text(seeds=1, iterations=6)
    (tmp_path / "h.toml").write_text(text)
    db = tmp_path / "h.db"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "BNNBO_HEARTBEAT_SECONDS": "0.2"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "bnnbo.cli", "run", "h.toml", "--db", str(db), "--quiet", "--threads", "1"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # a model-based step is committed: the run is mid-way
            if db.exists() and any(n >= 5 for _, n, _, _ in _safe(_evaluations, db)):
                break
            time.sleep(0.05)
        alive = _status(db, capsys, "--stale-after", "20")
        os.kill(proc.pid, signal.SIGKILL)
        killed = time.monotonic()
    finally:
        proc.wait(30)
    assert _evaluations(db)[0][1] < 10, "the run finished before it could be killed"
    assert " running " in alive and "interrupted (resumable)" not in alive
    out = _status(db, capsys)  # the default grace (60 s): not stale yet
    assert " running " in out and "interrupted (resumable)" not in out
    while "interrupted (resumable)" not in out and time.monotonic() - killed < 60:
        time.sleep(0.5)
        out = _status(db, capsys, "--stale-after", "2")
    assert "interrupted (resumable)" in out, out
    assert time.monotonic() - killed < 60
    assert load_runs(db, stale_after=2).status.tolist() == ["interrupted"]
    assert run(text, db).ok
    assert _evaluations(db) == [(1, 10, 10, 9)]
    assert "finished" in _status(db, capsys, "--stale-after", "2")


def test_the_heartbeat_thread_beats_only_for_runs_in_flight(tmp_path):
    db = tmp_path / "b.db"
    assert run(study_text(iterations=0), db).ok
    with Store(db) as store:
        (a, b) = store.runs(store.study_id("r"))
        for r in (a, b):
            store.set_status(r.id, "running")
        old = datetime.now(timezone.utc) - timedelta(hours=1)
        with sqlite3.connect(db) as conn:
            conn.execute("update runs set heartbeat_at = ?, updated_at = ?", (old, old))
        assert set(load_runs(store, stale_after=60).status) == {"interrupted"}
        beat = Heartbeat(store, lambda: [a.id], interval=0.05)
        time.sleep(0.5)
        beat.stop()
        assert load_runs(store, stale_after=60).status.tolist() == ["running", "interrupted"]
        counts = store.studies(60)[0]["runs"]
        assert counts == {"running": 1, "interrupted": 1}


def test_the_dashboard_shows_stale_runs_as_interrupted(tmp_path):
    pytest.importorskip("starlette")
    from bnnbo.dashboard.data import DashboardData

    db = tmp_path / "d.db"
    assert run(study_text(iterations=1), db).ok
    old = datetime.now(timezone.utc) - timedelta(minutes=5)
    with sqlite3.connect(db) as conn:
        conn.execute("update runs set status = 'running', heartbeat_at = ? where id = 1", (old,))
        conn.execute("update runs set status = 'running', heartbeat_at = ? where id = 2", (datetime.now(timezone.utc),))
    with Store(db, readonly=True) as store:
        data = DashboardData(store)
        (study,) = data.studies()
        assert study["counts"]["interrupted"] == 1 and study["counts"]["running"] == 1
        assert data.run(1)["run"]["status"] == "interrupted" and data.run(2)["run"]["status"] == "running"


def test_a_store_made_before_heartbeats_opens_and_gets_the_column(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("bnnbo.cli.console.width", 200)
    db = tmp_path / "old.db"
    assert run(study_text(iterations=1), db).ok
    old = datetime.now(timezone.utc) - timedelta(minutes=5)
    with sqlite3.connect(db) as conn:
        conn.execute("alter table runs drop column heartbeat_at")
        conn.execute("update runs set status = 'running', updated_at = ? where id = 1", (old,))
    with pytest.raises(ConfigError, match="needs the column runs.heartbeat_at, which a read-only connection"):
        Store(db, readonly=True)
    out = _status(db, capsys)  # status opening adds the column; no heartbeat: the last update counts
    assert "interrupted (resumable)" in out and "finished" in out
    with sqlite3.connect(db) as conn:
        assert "heartbeat_at" in [c[1] for c in conn.execute("pragma table_info(runs)")]
    assert run(study_text(iterations=2), db).ok


def test_grace_and_interval_settings(monkeypatch):
    now = datetime.now(timezone.utc)
    assert shown_status("running", now - timedelta(seconds=61), None, now, 60) == "interrupted"
    assert shown_status("running", now - timedelta(seconds=5), now - timedelta(hours=1), now, 60) == "running"
    assert shown_status("running", None, (now - timedelta(seconds=90)).replace(tzinfo=None), now, 60) == "interrupted"
    assert shown_status("finished", now - timedelta(days=1), None, now, 60) == "finished"
    assert stale_after() == 60.0
    monkeypatch.setenv("BNNBO_STALE_SECONDS", "5")
    assert stale_after() == 5.0 and stale_after(2) == 2.0
    monkeypatch.setenv("BNNBO_STALE_SECONDS", "soon")
    with pytest.raises(ConfigError, match=r"\$BNNBO_STALE_SECONDS = 'soon'; expected a number of seconds > 0"):
        stale_after()
    with pytest.raises(ConfigError, match="--stale-after = -1"):
        stale_after(-1)
    monkeypatch.setenv("BNNBO_HEARTBEAT_SECONDS", "0")
    with pytest.raises(ConfigError, match="BNNBO_HEARTBEAT_SECONDS = '0'"):
        run(study_text(), ":memory:")
