"""The store: round trips, schema version, read-only opening, results frames, export, PostgreSQL."""

import json
import math
import os
import sqlite3

import pandas as pd
import pytest

from bnnbo import load_results
from bnnbo.errors import ConfigError, UnavailableError
from bnnbo.results import export_results, load_runs, summarize
from bnnbo.runner import run_study
from bnnbo.schema import Base, jsonable, resolve_url
from bnnbo.storage import Store, StoreConflictError
from bnnbo.study import parse_study

STUDY = """
name = "st"
seeds = 1
acquisition = "paper"
[problems.branin]
n_init = 3
q = 2
iterations = 1
[surrogates.ibnn]
"""


def _eval(i, batch=0, initial=True, diag=None):
    return {
        "index": i,
        "batch": batch,
        "x": [0.1 * i, 1.0 / 3.0],
        "y": [math.pi * i],
        "initial": initial,
        "fit_seconds": 0.5,
        "acq_seconds": 0.25,
        "diagnostics": diag or {},
    }


def test_round_trip_keeps_floats_exactly_and_commits_state_with_the_step(tmp_path):
    url = f"sqlite:///{tmp_path / 's.db'}"
    study = parse_study(STUDY)
    with Store(url) as store:
        sid = store.save_study(study)
        run = store.add_run(sid, study.cells()[0])
        store.commit_step(run.id, [_eval(0), _eval(1), _eval(2)], None, 2 * math.pi, "running")
        store.commit_step(
            run.id,
            [_eval(3, 1, False, {"nan": float("nan"), "v": [1.5]}), _eval(4, 1, False)],
            b"\x00state",
            4 * math.pi,
            "finished",
        )
    with Store(url, create=False) as store:
        history, state = store.history(run.id)
        (record,) = store.runs(sid)
    assert [e["x"] for e in history] == [[0.1 * i, 1.0 / 3.0] for i in range(5)]
    assert [e["y"] for e in history] == [[math.pi * i] for i in range(5)]
    assert [e["initial"] for e in history] == [True] * 3 + [False] * 2
    assert history[3]["diagnostics"] == {"nan": "nan", "v": [1.5]} and state == b"\x00state"
    assert record.spec == study.cells()[0] and record.status == "finished"
    assert record.n_evaluations == 5 and record.best == 4 * math.pi and record.done


def test_an_evaluation_cannot_be_stored_twice(tmp_path):
    study = parse_study(STUDY)
    with Store(tmp_path / "s.db") as store:
        run = store.add_run(store.save_study(study), study.cells()[0])
        store.commit_step(run.id, [_eval(0)], None, 0.0, "running")
        with pytest.raises(StoreConflictError, match="evaluation\\(s\\) 0..0 are stored already"):
            store.commit_step(run.id, [_eval(0)], None, 0.0, "running")
        assert len(store.history(run.id)[0]) == 1  # the failed transaction left nothing behind


def test_sqlite_store_uses_wal_and_read_only_opening_refuses_missing_or_foreign_files(tmp_path):
    path = tmp_path / "w.db"
    Store(path).close()
    assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    with pytest.raises(ConfigError, match="no bnnbo store at .*nothing.db"):
        Store(tmp_path / "nothing.db", create=False)
    assert not (tmp_path / "nothing.db").exists()
    foreign = tmp_path / "foreign.db"
    sqlite3.connect(foreign).execute("create table t (a int)")
    with pytest.raises(ConfigError, match="not a bnnbo store"):
        Store(foreign, create=False)


def test_bad_urls_get_clear_messages(tmp_path):
    with pytest.raises(ConfigError, match="cannot open the store sqlite:///.*x.db: unable to open"):
        Store(tmp_path / "no" / "such" / "x.db")
    with pytest.raises(ConfigError, match="store URL nonsense://x: .*expected a SQLite file path"):
        Store("nonsense://x")
    with pytest.raises(ConfigError, match=r"mysql://u:\*\*\*@h/db needs the database driver"):
        Store("mysql://u:secret@h/db")


def test_schema_version_mismatch_is_refused(tmp_path):
    path = tmp_path / "v.db"
    Store(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute("update schema_version set version = 99")
    with pytest.raises(ConfigError, match="schema version 99; this bnnbo reads version 1"):
        Store(path)


def test_url_resolution(monkeypatch):
    monkeypatch.delenv("BNNBO_DB", raising=False)
    assert resolve_url(None) == "sqlite:///bnnbo.db"
    assert resolve_url("runs/x.db") == "sqlite:///runs/x.db"
    monkeypatch.setenv("BNNBO_DB", "postgresql+psycopg://u@h/db")
    assert resolve_url(None) == "postgresql+psycopg://u@h/db"


def test_jsonable_makes_strict_json():
    import torch

    value = jsonable({"t": torch.tensor([1.0, float("inf")]), 1: (float("-inf"), None, True), "o": object})
    assert json.loads(json.dumps(value, allow_nan=False))["t"] == [1.0, "inf"]
    assert value["1"] == ["-inf", None, True]


def _run_small(url):
    with Store(url) as store:
        return run_study(parse_study(STUDY), store)


def test_results_frames_summary_and_export(tmp_path):
    url = f"sqlite:///{tmp_path / 'r.db'}"
    assert _run_small(url).ok
    df = load_results(url)
    assert len(df) == 5 and list(df["index"]) == list(range(5))
    assert list(df.initial) == [True] * 3 + [False] * 2 and (df.batch == [0, 0, 0, 1, 1]).all()
    assert (df.trace == pd.Series([y[0] for y in df.y]).cummax()).all()
    assert df.loc[3, "fit_seconds"] > 0 and df.loc[0, "fit_seconds"] == 0
    runs = load_runs(url, "st")
    assert runs.status.tolist() == ["finished"] and runs.best[0] == df.trace.iloc[-1]
    table = summarize(url, "st")
    assert table.loc[0, "surrogate"] == "ibnn" and table.loc[0, "rank"] == 1 and table.loc[0, "finished"] == 1
    csv = export_results(tmp_path / "r.csv", url)
    back = pd.read_csv(csv)
    assert [json.loads(x) for x in back.x] == [list(x) for x in df.x]
    with pytest.raises(ConfigError, match="no study 'other' in the store; studies: st"):
        load_results(url, "other")
    with pytest.raises(ConfigError, match="expected 'csv' or 'parquet'"):
        export_results(tmp_path / "r.xlsx", url)


def test_parquet_export(tmp_path, monkeypatch):
    url = tmp_path / "q.db"
    assert _run_small(url).ok
    with monkeypatch.context() as m:  # without pyarrow: a clear message naming the extra
        m.setattr(pd.DataFrame, "to_parquet", lambda *a, **k: (_ for _ in ()).throw(ImportError("pyarrow")))
        with pytest.raises(UnavailableError, match=r"pip install 'bnnbo\[parquet\]'"):
            export_results(tmp_path / "r.parquet", url)
    pytest.importorskip("pyarrow", reason="pyarrow not installed (the 'parquet' extra)")
    parquet = export_results(tmp_path / "r.parquet", url, study="st")
    assert pd.read_parquet(parquet).y.map(list).tolist() == load_results(url).y.tolist()


PG_URL = os.environ.get("BNNBO_TEST_POSTGRES_URL")


@pytest.mark.skipif(
    not PG_URL,
    reason="no PostgreSQL server: set BNNBO_TEST_POSTGRES_URL "
    "(e.g. postgresql+psycopg://postgres@127.0.0.1:5432/bnnbo_test) to exercise it",
)
def test_postgresql_store_gives_the_same_results_as_sqlite(tmp_path):
    from sqlalchemy import create_engine

    engine = create_engine(PG_URL)
    Base.metadata.drop_all(engine)  # the test owns this database
    engine.dispose()
    assert _run_small(PG_URL).ok
    assert _run_small(PG_URL).skipped == 1  # resume on PostgreSQL: nothing left to do
    assert _run_small(tmp_path / "same.db").ok
    pg, lite = load_results(PG_URL), load_results(tmp_path / "same.db")
    cols = ["problem", "surrogate", "seed", "index", "batch", "initial", "x", "y", "trace"]
    pd.testing.assert_frame_equal(pg[cols], lite[cols])
    with Store(PG_URL) as store:
        run = store.runs(store.study_id("st"))[0]
        with pytest.raises(StoreConflictError):
            store.commit_step(run.id, [_eval(0)], None, 0.0, "finished")
