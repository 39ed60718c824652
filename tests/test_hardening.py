"""Regressions of issue 16 that need a stored study: `status` after a failed run, refused runs
leaving the store as it was, lowered budgets, and report file names from long labels."""

from __future__ import annotations

import dataclasses
import sqlite3

import pytest

from bnnbo.cli import main
from bnnbo.executors import InProcessExecutor
from bnnbo.report import write_report
from bnnbo.runner import SettingsChangedError, run_study
from bnnbo.storage import Store
from bnnbo.study import parse_study


def study_text(iterations=0, settings="", name="h"):
    return (
        f'name = "{name}"\nseeds = 2\n[problems.branin]\nn_init = 3\nq = 1\niterations = {iterations}\n'
        f"[surrogates.gp]\n{settings}"
    )


def run(text, db, **kw):
    with Store(db) as store:
        return run_study(parse_study(text), store, InProcessExecutor(threads=1), **kw)


def rows(db, sql):
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def test_status_shows_a_failed_run_next_to_finished_ones(tmp_path, capsys, monkeypatch):  # defect 1
    from rich.console import Console

    import bnnbo.cli

    monkeypatch.setattr(bnnbo.cli, "console", Console(width=400))  # the error column unabridged
    db = tmp_path / "s.db"
    assert run(study_text(), db).ok
    with Store(db) as store:
        first = store.runs(store.study_id("h"))[0]
        store.set_status(first.id, "failed", "SurrogateError: diverged at step 3")
    assert main(["status", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert "SurrogateError: diverged at step 3" in out and "finished" in out


def test_a_refused_run_keeps_the_stored_study_text(tmp_path):  # defect 4
    db = tmp_path / "r.db"
    assert run(study_text(), db).ok
    before = rows(db, "select source, updated_at from studies")
    with pytest.raises(SettingsChangedError):
        run(study_text(settings="settings = { priors = 'paper' }\n"), db)
    assert rows(db, "select source, updated_at from studies") == before


def test_a_lowered_budget_is_refused_while_runs_hold_more_evaluations(tmp_path):
    db = tmp_path / "l.db"
    assert run(study_text(iterations=1), db).ok  # 4 evaluations per run
    runs_before = rows(db, "select id, budget, spec, status from runs")
    study_before = rows(db, "select source from studies")
    with pytest.raises(SettingsChangedError) as info:
        run(study_text(iterations=0), db)  # budget 3
    message = str(info.value)
    assert "branin / gp / seed 0: iterations: 1 -> 0 (budget 3, but 4 evaluations are stored)" in message
    assert "--force-new" in message
    assert rows(db, "select id, budget, spec, status from runs") == runs_before
    assert rows(db, "select source from studies") == study_before
    # raising it again (or keeping it) is still fine, and --force-new starts the runs again
    assert run(study_text(iterations=1), db).skipped == 2
    outcome = run(study_text(iterations=0), db, force_new=True)
    assert outcome.ok and outcome.finished == 2
    assert sorted(s for (s,) in rows(db, "select status from runs")) == ["finished"] * 2 + ["superseded"] * 2


def test_report_file_names_stay_short_and_distinct_for_long_names(tmp_path, monkeypatch):  # defect 8
    monkeypatch.chdir(tmp_path)
    study = parse_study(study_text(name="s") + "")
    long_a, long_b = "p" * 300 + "a", "p" * 300 + "b"
    problems = tuple(dict(study.problems[0], label=label) for label in (long_a, long_b))
    study = dataclasses.replace(study, name="n" * 300, problems=problems)
    with Store(tmp_path / "long.db") as store:
        assert run_study(study, store, InProcessExecutor(threads=1)).ok
    path = write_report(tmp_path / "long.db").resolve()  # the default folder: bnnbo-report/<study name>
    assert path.exists() and path.parent.parent == tmp_path / "bnnbo-report"
    names = [p.name for p in path.parent.rglob("*")]
    assert max(len(n.encode()) for n in names + [path.parent.name]) <= 130
    pngs = sorted(p for p in names if p.endswith(".png"))
    assert len(pngs) == 2 and pngs[0] != pngs[1]
    assert all(p.startswith("p" * 100) for p in pngs)


def test_a_store_failing_mid_run_gives_one_line_not_a_traceback(tmp_path, capsys, monkeypatch):
    import sqlite3 as dbapi

    from sqlalchemy.exc import OperationalError

    import bnnbo.runner

    def locked(*args, **kwargs):
        raise OperationalError("UPDATE runs ...", {}, dbapi.OperationalError("database is locked"))

    monkeypatch.setattr(bnnbo.runner, "run_study", locked)
    (tmp_path / "s.toml").write_text(study_text())
    assert main(["run", str(tmp_path / "s.toml"), "--db", str(tmp_path / "m.db"), "--quiet"]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "the store is locked by another process" in err and "database is locked" in err
