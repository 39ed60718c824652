"""The study runner: identical to the library loop, resumable after Ctrl-C or SIGKILL, failures
isolated, settings changes refused, Dask equal to in-process, and the CLI around it."""

import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest
import torch

from bnnbo import load_results, optimize
from bnnbo.cli import main
from bnnbo.executors import DaskExecutor, InProcessExecutor
from bnnbo.plan import plan_study
from bnnbo.results import load_runs
from bnnbo.runner import SettingsChangedError, run_study
from bnnbo.storage import Store
from bnnbo.study import parse_study
from bnnbo.surrogates import SURROGATES
from bnnbo.surrogates.gaussian.gp import GPSurrogate


def study_text(surrogates="[surrogates.gp]\n", seeds=2, iterations=2, n_init=4, name="r"):
    return (
        f'name = "{name}"\nseeds = {seeds}\nacquisition = "paper"\n'
        f"[problems.branin]\nn_init = {n_init}\nq = 1\niterations = {iterations}\n{surrogates}"
    )


def run(text, db, **kw):
    with Store(db) as store:
        return run_study(parse_study(text), store, InProcessExecutor(threads=1), **kw)


def points(db):
    """(problem, seed, surrogate) -> the run's evaluations as comparable lists."""
    df = load_results(db)
    return {
        key: (g.x.tolist(), g.y.tolist(), g.initial.tolist(), g.batch.tolist())
        for key, g in df.groupby(["problem", "seed", "surrogate"])
    }


class FailingGP(GPSurrogate):
    """Diverges on its second fit (5 or more points)."""

    name = "failing"

    def _fit(self, X, Y, *, seed, state):
        if X.shape[0] >= 5:
            raise RuntimeError("diverged")
        return super()._fit(X, Y, seed=seed, state=state)


class InterruptingGP(GPSurrogate):
    """A GP that raises KeyboardInterrupt (as Ctrl-C would) inside its ``countdown``-th fit."""

    name = "interrupting"
    countdown = None

    def _fit(self, X, Y, *, seed, state):
        if InterruptingGP.countdown is not None:
            InterruptingGP.countdown -= 1
            if InterruptingGP.countdown == 0:
                InterruptingGP.countdown = None
                raise KeyboardInterrupt
        return super()._fit(X, Y, seed=seed, state=state)


@pytest.fixture
def test_surrogates(monkeypatch):
    monkeypatch.setitem(SURROGATES, "failing", f"{__name__}:FailingGP")
    monkeypatch.setitem(SURROGATES, "interrupting", f"{__name__}:InterruptingGP")


def test_a_run_equals_the_library_loop(tmp_path):
    assert run(study_text(seeds=1), tmp_path / "a.db").ok
    df = load_results(tmp_path / "a.db")
    ref = optimize("branin", "gp", budget=6, seed=0, q=1, n_init=4, acquisition="paper")
    assert torch.equal(torch.tensor(df.x.tolist(), dtype=torch.float64), ref.X)
    assert torch.equal(torch.tensor(df.y.tolist(), dtype=torch.float64), ref.Y)
    assert df.fit_seconds[~df.initial].gt(0).all() and df.acq_seconds[~df.initial].gt(0).all()


def test_ctrl_c_commits_everything_and_resume_equals_an_uninterrupted_run(tmp_path, test_surrogates):
    text = study_text("[surrogates.gp]\nsurrogate = 'interrupting'\n")
    InterruptingGP.countdown = 3  # seed 0 fits twice and finishes; seed 1 is interrupted in its first fit
    outcome = run(text, tmp_path / "i.db")
    assert outcome.interrupted and not outcome.ok and outcome.finished == 1
    runs = load_runs(tmp_path / "i.db")
    assert runs.status.tolist() == ["finished", "interrupted"] and runs.n_evaluations.tolist() == [6, 4]
    resumed = run(text, tmp_path / "i.db")
    assert resumed.ok and resumed.skipped == 1 and resumed.finished == 1
    assert run(text, tmp_path / "u.db").ok
    assert points(tmp_path / "i.db") == points(tmp_path / "u.db")


def test_a_failing_surrogate_leaves_the_others_complete(tmp_path, test_surrogates, capsys):
    path = tmp_path / "f.toml"
    path.write_text(study_text("[surrogates.gp]\n[surrogates.bad]\nsurrogate = 'failing'\n"))
    db = f"sqlite:///{tmp_path / 'f.db'}"
    assert main(["run", str(path), "--db", db, "--quiet", "--threads", "1"]) == 1
    assert (
        "failed branin / bad / seed 0: SurrogateError: surrogate 'failing' failed: RuntimeError: diverged"
        in capsys.readouterr().err
    )
    runs = load_runs(db)
    good, bad = runs[runs.surrogate == "gp"], runs[runs.surrogate == "bad"]
    assert (good.status == "finished").all() and (good.n_evaluations == 6).all()
    assert (bad.status == "failed").all() and (bad.n_evaluations == 5).all()  # its first fit's step is kept
    with Store(db) as store:
        row = store.engine.connect().exec_driver_sql("select traceback from runs where status = 'failed'").first()
    assert "RuntimeError: diverged" in row[0] and "_fit" in row[0]
    again = run(path.read_text(), db)  # re-running retries failed runs only
    assert again.skipped == 2 and len(again.failed) == 2


def test_lost_worker_results_mark_only_that_run_failed(tmp_path):
    class LosingExecutor(InProcessExecutor):
        def next_done(self):
            handle, result = super().next_done()
            return handle, (RuntimeError("worker lost") if handle == 1 else result)

    with Store(tmp_path / "l.db") as store:
        outcome = run_study(parse_study(study_text(iterations=0)), store, LosingExecutor(threads=1))
    assert [error for _, error in outcome.failed] == ["RuntimeError: worker lost"] and outcome.finished == 1


def test_changed_settings_are_refused_unless_force_new(tmp_path):
    db = tmp_path / "c.db"
    assert run(study_text(iterations=0), db).ok
    changed = study_text("[surrogates.gp]\nsettings = { priors = 'paper' }\n", iterations=0)
    with pytest.raises(SettingsChangedError) as info:
        run(changed, db)
    message = str(info.value)
    assert "2 run(s) in the store were made with other settings" in message
    assert "branin / gp / seed 0: settings.priors: 'modern' -> 'paper'" in message and "--force-new" in message
    outcome = run(changed, db, force_new=True)
    assert outcome.ok and outcome.finished == 2
    assert load_runs(db).shape[0] == 2
    assert load_runs(db, include_superseded=True).status.tolist().count("superseded") == 2


def test_runs_stored_before_a_setting_was_added_resume_at_its_neutral_value(tmp_path):
    db = tmp_path / "a.db"
    assert run(study_text(iterations=0), db).ok
    added = GPSurrogate.Settings.added
    assert added and all(GPSurrogate.Settings.defaults()[k] == v for k, v in added.items())
    paths = ", ".join(f"'$.resolved_settings.{k}'" for k in added)
    with sqlite3.connect(db) as conn:  # as stored by code that predates these settings
        conn.execute(f"update runs set spec = json_remove(spec, {paths})")
        assert all("hyper_samples" not in spec for (spec,) in conn.execute("select spec from runs"))
    plan = plan_study(parse_study(study_text(iterations=1)), db)
    assert [(c.runs, c.finished, c.changed) for c in plan.cells] == [(2, 0, 0)] and plan.evaluations == 2
    assert run(study_text(iterations=1), db).finished == 2  # the same configuration: extended
    assert plan_study(parse_study(study_text(iterations=1)), db).evaluations == 0
    with pytest.raises(SettingsChangedError, match=r"settings.stall_starts: None -> 2"):
        run(study_text("[surrogates.gp]\nsettings = { stall_starts = 2 }\n", iterations=1), db)


def test_more_iterations_extend_finished_runs_exactly(tmp_path):
    assert run(study_text(seeds=1, iterations=1), tmp_path / "e.db").ok
    extended = run(study_text(seeds=1, iterations=2), tmp_path / "e.db")
    assert extended.finished == 1 and extended.skipped == 0
    assert run(study_text(seeds=1, iterations=2), tmp_path / "d.db").ok
    assert points(tmp_path / "e.db") == points(tmp_path / "d.db")


def test_dask_local_cluster_equals_in_process(tmp_path):
    text = study_text("[surrogates.gp]\n[surrogates.ibnn]\n")
    assert run(text, tmp_path / "p.db").ok
    executor = DaskExecutor(workers=2, threads=1)
    try:
        assert executor.capacity == 2
        with Store(tmp_path / "k.db") as store:
            assert run_study(parse_study(text), store, executor).ok
    finally:
        executor.close()
    assert points(tmp_path / "k.db") == points(tmp_path / "p.db")


def _evaluations(db_path):
    with sqlite3.connect(db_path, timeout=30) as conn:
        return conn.execute(
            'select run_id, count(*), count(distinct "index"), max("index") '
            "from evaluations group by run_id order by run_id"
        ).fetchall()


def test_sigkill_mid_run_then_resume_keeps_every_evaluation_exactly_once(tmp_path):
    text = study_text(iterations=4)
    (tmp_path / "k.toml").write_text(text)
    db = tmp_path / "k.db"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "bnnbo.cli", "run", "k.toml", "--db", str(db), "--quiet", "--threads", "1"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:  # wait until a model-based step of a run is committed
            if db.exists() and any(n >= 5 for _, n, _, _ in _safe(_evaluations, db)):
                break
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(30)
    before = _evaluations(db)
    assert sum(n for _, n, _, _ in before) < 2 * 8, "the run finished before it could be killed"
    assert all(n == distinct == last + 1 for _, n, distinct, last in before)
    assert run(text, db).ok
    after = _evaluations(db)
    assert after == [(1, 8, 8, 7), (2, 8, 8, 7)]
    assert run(text, tmp_path / "u.db").ok
    assert points(db) == points(tmp_path / "u.db")


def _safe(fn, *args):
    try:
        return fn(*args)
    except sqlite3.OperationalError:  # the schema is not there yet
        return []


def test_cli_status_export_and_errors(tmp_path, capsys):
    db = f"sqlite:///{tmp_path / 's.db'}"
    path = tmp_path / "s.toml"
    path.write_text(study_text(iterations=0, name="cli"))
    assert main(["run", str(path), "--db", db, "--threads", "1"]) == 0
    out = capsys.readouterr().out
    assert "rank" in out and "branin" in out and "study 'cli' done: 2 run(s) finished now" in out
    assert main(["status", "--db", db]) == 0
    out = capsys.readouterr().out
    assert "studies in" in out and "runs of cli" in out and "4/4" in out
    assert main(["export", str(tmp_path / "o.csv"), "--db", db]) == 0
    assert (tmp_path / "o.csv").read_text().count("\n") == 1 + 2 * 4
    assert main(["status", "--db", str(tmp_path / "none.db")]) == 2
    assert "no bnnbo store" in capsys.readouterr().err
    assert main(["run", str(path), "--db", db, "--workers", "64"]) == 2
    assert "--workers 64: expected 1.." in capsys.readouterr().err
    path.write_text("name = 'x'\n")
    assert main(["run", str(path), "--db", db]) == 2
    assert "seeds is missing" in capsys.readouterr().err


def test_a_setting_added_since_a_run_was_stored_resumes_at_none_and_is_named_otherwise(tmp_path):
    import sqlite3

    db = tmp_path / "a.db"
    assert run(study_text(seeds=1, iterations=0), db).ok
    with sqlite3.connect(db) as con:  # a store written before gp had a `kernel` setting
        con.execute(
            "update runs set settings = json_remove(settings, '$.kernel'), "
            "spec = json_remove(spec, '$.resolved_settings.kernel')"
        )
    extended = run(study_text(seeds=1, iterations=1), db)
    assert extended.ok and extended.finished == 1
    assert load_runs(db, include_superseded=True).status.tolist() == ["finished"]
    with sqlite3.connect(db) as con:  # a stored value the study no longer gives is a change, and named
        con.execute("update runs set spec = json_set(spec, '$.resolved_settings.kernel', 'botorch')")
    with pytest.raises(SettingsChangedError, match=r"settings\.kernel: 'botorch' -> None"):
        run(study_text(seeds=1, iterations=1), db)


def nndraw_study(seeds=1, iterations=1):
    return (
        f'name = "w"\nseeds = {seeds}\n'
        f"[problems.nndraw]\nn_init = 3\nq = 1\niterations = {iterations}\n"
        "options = { dim = 4, width = 3, depth = 1 }\n[surrogates.gp]\n"
    )


def weights_file(path, value):
    torch.save(torch.full((4 * 3 + 3 + 3 + 1,), float(value), dtype=torch.float64), path)
    return str(path)


def test_a_run_is_not_resumed_on_another_nndraw_function(tmp_path, monkeypatch):
    """$BNNBO_NNDRAW_WEIGHTS changes the function without changing the study file: the weights'
    hash is part of the run's configuration, so resuming on other weights (or on the seeded draw)
    is refused instead of mixing two functions in one run."""
    from bnnbo.errors import ConfigError
    from bnnbo.runner import check_identity

    db = tmp_path / "w.db"
    monkeypatch.delenv("BNNBO_NNDRAW_WEIGHTS", raising=False)
    assert run(nndraw_study(), db).ok  # the seeded draw: nothing recorded beyond the options
    monkeypatch.setenv("BNNBO_NNDRAW_WEIGHTS", weights_file(tmp_path / "a.pt", 0.5))
    with pytest.raises(
        SettingsChangedError, match=r"nndraw / gp / seed 0: problem_identity: None -> \{'weights_sha256'"
    ):
        run(nndraw_study(iterations=2), db)
    assert run(nndraw_study(iterations=2), db, force_new=True).ok
    with Store(db) as store:
        (made_on_a,) = [r.spec for r in store.runs(store.study_id("w")) if r.status != "superseded"]
    assert made_on_a.problem_identity["weights_sha256"] and made_on_a.problem_options == {
        "dim": 4,
        "width": 3,
        "depth": 1,
    }
    assert run(nndraw_study(iterations=3), db).finished == 1  # the same file: extended
    monkeypatch.setenv("BNNBO_NNDRAW_WEIGHTS", weights_file(tmp_path / "b.pt", 0.25))  # other values
    with pytest.raises(SettingsChangedError, match="problem_identity.weights_sha256"):
        run(nndraw_study(iterations=4), db)
    # a worker whose environment names another file refuses the step, before any evaluation
    from bnnbo.problems import get_problem

    with pytest.raises(ConfigError, match=r"problem 'nndraw' here is \{'weights_sha256'.*but the run was made on"):
        check_identity(made_on_a, get_problem("nndraw", dim=4, width=3, depth=1))
    monkeypatch.delenv("BNNBO_NNDRAW_WEIGHTS")
    with pytest.raises(ConfigError, match="here is defined by its options alone"):
        check_identity(made_on_a, get_problem("nndraw", dim=4, width=3, depth=1))
