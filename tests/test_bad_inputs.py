"""Bad inputs, table-driven: study files, API calls and CLI calls.

Each row gives the input, the error class and a distinctive part of the message (naming the bad
value and what was expected); every call must also leave the store exactly as it was. Rows
marked "defect N" are regressions of issue 16's list.
"""

from __future__ import annotations

import math
import sqlite3
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from bnnbo import Optimizer, optimize
from bnnbo.cli import main
from bnnbo.errors import ConfigError, DataError, UnavailableError, UnknownNameError
from bnnbo.space import Float, Integer
from bnnbo.storage import Store
from bnnbo.study import StudyError, load_study, parse_study

GOOD_STUDY = 'name = "bad-inputs"\nseeds = 1\n[problems.branin]\nn_init = 3\nq = 1\niterations = 0\n[surrogates.gp]\n'


def study(
    top: str = "seeds = 1",
    problem: str = "n_init = 3\nq = 1\niterations = 0",
    surrogate: str = "",
    name: str = "bad-inputs",
) -> str:
    return f"name = \"{name}\"\n{top}\n[problems.branin]\n{problem}\n[surrogates.gp]\nsurrogate = 'ibnn'\n{surrogate}\n"


def fingerprint(db: Path) -> dict:
    """Every row of every table: equal before and after means the store is unchanged."""
    conn = sqlite3.connect(db)
    try:
        tables = [t for (t,) in conn.execute("select name from sqlite_master where type = 'table' order by name")]
        return {t: conn.execute(f'select * from "{t}" order by rowid').fetchall() for t in tables}
    finally:
        conn.close()


@pytest.fixture(autouse=True)
def _unwrapped_errors(monkeypatch):
    """One line per message, so that paths in messages are not broken by the terminal width."""
    from rich.console import Console

    import bnnbo.cli

    monkeypatch.setattr(bnnbo.cli, "err_console", Console(stderr=True, width=100_000))


@pytest.fixture(scope="module")
def stored(tmp_path_factory) -> Path:
    """A store holding one finished study (no model fits: the initial design only)."""
    folder = tmp_path_factory.mktemp("store")
    (folder / "good.toml").write_text(GOOD_STUDY)
    assert main(["run", str(folder / "good.toml"), "--db", str(folder / "s.db"), "--quiet", "--threads", "1"]) == 0
    return folder / "s.db"


@pytest.fixture
def db(stored, tmp_path) -> Path:
    path = tmp_path / "s.db"
    path.write_bytes(stored.read_bytes())
    return path


def one_line(text: str) -> str:
    return " ".join(text.split())


def listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if not p.name.endswith(("-wal", "-shm", "-journal")))


# ---- study files -------------------------------------------------------------------------------
STUDY_CASES = [
    # defect 5: a seed past the store's 32-bit column crashed after an empty study row was written
    (
        study("seeds = [99999999999999999999]"),
        "seeds[0] = 99999999999999999999 is too large; expected at most 2147483647",
    ),
    # defect 6: a count without an upper bound died with MemoryError
    (study("seeds = 10000000000"), "seeds = 10000000000 is too large; expected at most 10000"),
    (study(problem="n_init = 1\nq = 1\niterations = 0"), "n_init = 1; expected an integer >= 2"),
    (study(problem="n_init = 3\nq = 1000000\niterations = 0"), "q = 1000000 is too large; expected at most 1000"),
    (study(problem="n_init = 3\nq = 1\niterations = 10000000"), "iterations = 10000000 is too large; expected at most"),
    (study(problem="n_init = 3\nq = 1000\niterations = 999999"), "evaluations; expected at most 1000000"),
    (study(name="n" * 300), "has 300 characters; expected at most 200"),
    (study(surrogate="settings = { depth = 100000 }"), "'depth' = 100000 is too large; expected at most 1000"),
    # every bad setting of a surrogate at once
    (
        study(surrogate="settings = { depth = 'x', var_w = 'y', colour = 1 }"),
        "ibnn: 3 bad settings: (1) unknown setting(s) 'colour'",
    ),
    (study(surrogate="settings = { var_w = nan }"), "'var_w' = nan; expected a finite number"),
    (
        study("seeds = 1").replace(
            "[problems.branin]\n", "[problems.branin]\nproblem = 'ackley'\noptions = { dim = 100000 }\n"
        ),
        "dim = 100000 is too large; expected at most 10000",
    ),
    ("name = 'x'\n", "seeds is missing"),
]


STUDY_IDS = [
    "seed_too_big",
    "seed_count_huge",
    "n_init_1",
    "q_huge",
    "iterations_huge",
    "budget_huge",
    "name_too_long",
    "depth_huge",
    "every_bad_setting",
    "var_w_nan",
    "dim_huge",
    "seeds_missing",
]


@pytest.mark.parametrize("text, message", STUDY_CASES, ids=STUDY_IDS)
def test_bad_study_files(text, message, db, tmp_path, capsys):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(StudyError) as info:
        load_study(path)
    assert message in str(info.value)
    before = fingerprint(db)
    assert main(["run", str(path), "--db", str(db), "--quiet"]) == 2
    assert message in one_line(capsys.readouterr().err)
    assert fingerprint(db) == before


# defect 7: raw UnicodeDecodeError for a non-UTF-8 file, or for the store given as the study file
BYTE_CASES = [
    ("latin1", 'name = "caf\xe9"\nseeds = 1\n'.encode("latin-1"), "is not UTF-8 text (byte 11 is b'\\xe9')"),
    ("store", None, "is a SQLite database (a bnnbo store?), not a study file"),
]


@pytest.mark.parametrize("kind, data, message", BYTE_CASES, ids=[c[0] for c in BYTE_CASES])
def test_study_files_that_are_not_text(kind, data, message, db, tmp_path, capsys):
    path = db if data is None else tmp_path / "bad.toml"
    if data is not None:
        path.write_bytes(data)
    with pytest.raises(ConfigError) as info:
        load_study(path)
    assert message in str(info.value)
    before = fingerprint(db)
    assert main(["run", str(path), "--db", str(db), "--quiet"]) == 2
    assert message in one_line(capsys.readouterr().err)
    assert fingerprint(db) == before


def test_a_utf8_byte_order_mark_is_accepted(tmp_path):
    path = tmp_path / "bom.toml"
    path.write_bytes(b"\xef\xbb\xbf" + GOOD_STUDY.encode())
    assert load_study(path).name == "bad-inputs"
    assert parse_study("\ufeff" + GOOD_STUDY).name == "bad-inputs"


# ---- API calls ---------------------------------------------------------------------------------
BOX = torch.tensor([[0.0, 0.0], [1.0, 1.0]], dtype=torch.float64)


def _told_optimizer() -> Optimizer:
    opt = Optimizer(BOX, n_init=2)
    return opt


API_CASES = [
    # defect 10: 0 and None raised a raw TypeError
    ("maximize_0", lambda: Optimizer(BOX, maximize=0), ConfigError, "maximize must be True, False or 1 bool(s)"),
    ("maximize_None", lambda: Optimizer(BOX, maximize=None), ConfigError, "got None"),
    ("maximize_yes", lambda: Optimizer(BOX, maximize="yes"), ConfigError, "got 'yes'"),
    # defect 11: NaN reference point accepted, failing deep in the first ask
    (
        "ref_point_nan",
        lambda: Optimizer(BOX, 2, ref_point=[math.nan, 0.0]),
        DataError,
        "reference point [nan, 0.0] has a NaN or infinite entry",
    ),
    ("ref_point_inf", lambda: Optimizer(BOX, 2, ref_point=[0.0, math.inf]), DataError, "NaN or infinite entry"),
    ("n_init_1", lambda: Optimizer(BOX, n_init=1), ConfigError, "n_init must be an integer >= 2, got 1"),
    ("q_huge", lambda: Optimizer(BOX, q=1_000_000), ConfigError, "q = 1000000 is too large; expected at most 1000"),
    ("ask_q_huge", lambda: _told_optimizer().ask(1_000_000), ConfigError, "q = 1000000 is too large"),
    ("seed_huge", lambda: Optimizer(BOX, seed=2**40), ConfigError, "seed = 1099511627776 is too large"),
    ("n_init_huge", lambda: Optimizer(BOX, n_init=10**9), ConfigError, "n_init = 1000000000 is too large"),
    ("budget_0", lambda: optimize("branin", budget=0), ConfigError, "budget must be an integer >= 1, got 0"),
    ("budget_huge", lambda: optimize("branin", budget=10**12), ConfigError, "budget = 1000000000000 is too large"),
    ("complex_Y", lambda: _tell(np.array([1 + 2j, 3j])), DataError, "Y is complex; expected real numbers"),
    ("complex_Y_list", lambda: _tell([1 + 2j, 3.0]), DataError, "Y is complex"),
    (
        "complex_X",
        lambda: _told_optimizer().tell(torch.zeros(1, 2, dtype=torch.complex128), [1.0]),
        DataError,
        "X is complex",
    ),
    ("Float_1e308", lambda: Float("x", -1e308, 1e308), ConfigError, "bounds (-1e+308, 1e+308) are too far apart"),
    ("Float_str", lambda: Float("x", "a", 1.0), ConfigError, "bounds (a, 1.0) must be finite"),
    ("Integer_huge", lambda: Integer("k", 0, 10**30), ConfigError, "must lie within +-2**53"),
    ("depth_huge", lambda: _surrogate("ibnn", depth=100_000), ConfigError, "'depth' = 100000 is too large"),
    ("widths_huge", lambda: _surrogate("hmc", widths=[10**7]), ConfigError, "'widths' = [10000000] is too large"),
    (
        "all_bad_settings",
        lambda: _surrogate("hmc", prior_var=-1.0, noise_std=0.0, n_samples=0),
        ConfigError,
        "hmc: 3 bad settings: (1) setting 'prior_var' = -1.0; expected a number > 0; (2) setting 'noise_std'",
    ),
    ("unknown_setting", lambda: _surrogate("gp", colour=1), UnknownNameError, "unknown setting(s) 'colour'"),
    ("workers_0", lambda: _executor(workers=0), ConfigError, "--workers 0: expected an integer >= 1"),
    ("assess_n_huge", lambda: _assess(n=10**9), ConfigError, "assess: n = 1000000000 is too large"),
]


def _tell(Y):
    opt = _told_optimizer()
    opt.tell(opt.ask(), Y)


def _surrogate(name, **settings):
    from bnnbo.surrogates import get_surrogate

    return get_surrogate(name, **settings)


def _executor(**kw):
    from bnnbo.executors import make_executor

    return make_executor(**kw)


def _assess(**kw):
    from bnnbo.assess import assess

    return assess("branin", ["gp"], **kw)


@pytest.mark.parametrize("call, error, message", [c[1:] for c in API_CASES], ids=[c[0] for c in API_CASES])
def test_bad_api_calls(call, error, message):
    with pytest.raises(error) as info:
        call()
    assert message in str(info.value)


def test_numpy_bools_are_accepted_for_maximize():  # defect 10
    opt = Optimizer(BOX, maximize=np.bool_(False), n_init=2)
    assert opt.to_max(torch.ones(1, 1, dtype=torch.float64)).item() == -1.0
    opt = Optimizer(BOX, 2, maximize=np.array([True, False]), n_init=2)
    assert opt.to_max(torch.ones(1, 2, dtype=torch.float64)).tolist() == [[1.0, -1.0]]


# ---- stores ------------------------------------------------------------------------------------
def _foreign(tmp_path) -> Path:
    path = tmp_path / "other-app.db"
    with sqlite3.connect(path) as conn:
        conn.execute("create table customers (name text)")
        conn.execute("insert into customers values ('ada')")
    return path


def _damaged(tmp_path) -> Path:
    path = tmp_path / "damaged.db"
    path.write_bytes(b"this is not a database" * 100)
    return path


STORE_CASES = [
    ("empty_url", lambda tmp: "", "the store URL is empty"),  # defect 2 (API side)
    ("blank_url", lambda tmp: "   ", "the store URL is empty"),
    ("foreign_sqlite", _foreign, "is not a bnnbo store: it holds other tables (customers)"),
    ("damaged", _damaged, "is damaged or not a SQLite database"),
]


@pytest.mark.parametrize("make, message", [c[1:] for c in STORE_CASES], ids=[c[0] for c in STORE_CASES])
def test_bad_stores(make, message, tmp_path):
    url = make(tmp_path)
    before = Path(url).read_bytes() if str(url).strip() else None
    with pytest.raises(ConfigError) as info:
        Store(url)
    assert message in str(info.value)
    if before is not None:
        assert Path(url).read_bytes() == before  # not a byte changed in another application's file


def test_a_read_only_store_is_refused_before_any_write(db):
    before = fingerprint(db)
    with pytest.raises(ConfigError, match="is read-only: attempt to write a readonly database"):
        Store(f"sqlite:///file:{db}?mode=ro&uri=true")
    assert fingerprint(db) == before


def test_a_locked_store_gives_one_clear_message(db, monkeypatch):
    import bnnbo.schema

    monkeypatch.setattr(bnnbo.schema, "SQLITE_TIMEOUT", 0.2)
    holder = sqlite3.connect(db, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")  # another process writing
        with pytest.raises(ConfigError, match=r"is locked by another process \(waited 0.2 s\)"):
            Store(db)
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def test_an_unreachable_dask_scheduler_fails_fast(monkeypatch):
    import distributed  # noqa: F401 - imported before the clock starts

    import bnnbo.executors
    from bnnbo.executors import DaskExecutor

    monkeypatch.setattr(bnnbo.executors, "CONNECT_TIMEOUT", 1.0)
    t0 = time.monotonic()
    with pytest.raises(UnavailableError, match="cannot reach the Dask scheduler 'tcp://127.0.0.1:1' within 1 s"):
        DaskExecutor(scheduler="tcp://127.0.0.1:1")
    assert time.monotonic() - t0 < 15


# ---- CLI calls ---------------------------------------------------------------------------------
CLI_CASES = [
    # defect 3: --budget 0 ran the default budget
    ("budget_0", ["optimize", "--problem", "branin", "--budget", "0"], "budget must be an integer >= 1, got 0"),
    ("q_huge", ["optimize", "--problem", "branin", "--q", "1000000"], "q = 1000000 is too large"),
    ("n_init_1", ["optimize", "--problem", "branin", "--n-init", "1"], "n_init must be an integer >= 2"),
    (
        "depth_huge",
        ["optimize", "--problem", "branin", "--surrogate", "ibnn", "--set", "depth=100000"],
        "'depth' = 100000 is too large; expected at most 1000",
    ),
    ("dim_huge", ["optimize", "--problem", "ackley", "--option", "dim=100000"], "dim = 100000 is too large"),
    # defect 2: an empty --db kept the store in memory and lost every result
    ("db_empty", ["run", "{study}", "--db", ""], "the store URL is empty"),
    ("db_memory", ["run", "{study}", "--db", "sqlite://"], "is an in-memory database"),
    ("workers_0", ["run", "{study}", "--db", "{db}", "--workers", "0"], "--workers 0: expected an integer >= 1"),
    ("threads_0", ["run", "{study}", "--db", "{db}", "--threads", "0"], "--threads 0: expected an integer >= 1"),
    # defect 7: arguments swapped
    ("store_as_study", ["run", "{db}"], "is a SQLite database (a bnnbo store?), not a study file"),
    ("foreign_store", ["run", "{study}", "--db", "{foreign}"], "is not a bnnbo store: it holds other tables"),
    ("foreign_status", ["status", "--db", "{foreign}"], "is not a bnnbo store"),
    ("damaged_store", ["run", "{study}", "--db", "{damaged}"], "is damaged or not a SQLite database"),
    # defect 9: unwritable output paths gave raw tracebacks
    ("export_missing_dir", ["export", "{tmp}/missing/x.csv", "--db", "{db}"], "/missing' does not exist"),
    ("export_folder", ["export", "{tmp}", "--db", "{db}"], "is a folder; expected a file name"),
    ("export_dot", ["export", ".", "--db", "{db}"], "'.' is a folder"),
    ("report_out_file", ["report", "--db", "{db}", "--out", "{study}"], "is not a folder"),
    ("report_out_under_file", ["report", "--db", "{db}", "--out", "{study}/r"], "is a file)"),
    ("assess_plot", ["assess", "--problem", "branin", "--plot", "{tmp}/missing/p.png"], "/missing' does not exist"),
    ("assess_plot_format", ["assess", "--problem", "branin", "--plot", "{tmp}/p.xyz"], "unknown image format 'xyz'"),
    ("assess_markdown", ["assess", "--problem", "branin", "--markdown", "{tmp}"], "is a folder"),
    ("assess_n_huge", ["assess", "--problem", "branin", "--n", "1000000000"], "n = 1000000000 is too large"),
    ("assess_workers_0", ["assess", "--problem", "branin", "--workers", "0"], "--workers 0"),
]


@pytest.mark.parametrize("argv, message", [c[1:] for c in CLI_CASES], ids=[c[0] for c in CLI_CASES])
def test_bad_cli_calls(argv, message, db, tmp_path, capsys, monkeypatch):
    import bnnbo.assess

    def no_work(*a, **k):
        raise AssertionError("the computation ran before the arguments were checked")

    monkeypatch.setattr(bnnbo.assess, "assess", no_work)  # output paths are checked before any fit
    monkeypatch.chdir(tmp_path)
    (tmp_path / "good.toml").write_text(GOOD_STUDY)
    places = {
        "study": str(tmp_path / "good.toml"),
        "db": str(db),
        "tmp": str(tmp_path),
        "foreign": str(_foreign(tmp_path)),
        "damaged": str(_damaged(tmp_path)),
    }
    foreign_before = Path(places["foreign"]).read_bytes()
    before = fingerprint(db)
    files_before = listing(tmp_path)
    assert main([a.format(**places) for a in argv]) == 2
    err = one_line(capsys.readouterr().err)
    assert message in err and "Traceback" not in err
    assert fingerprint(db) == before
    assert Path(places["foreign"]).read_bytes() == foreign_before
    assert listing(tmp_path) == files_before  # no bnnbo.db, no report folder


@pytest.mark.parametrize(
    "name, settings, parts",
    [
        ("ibnn", {"depth": 0, "var_w": -1.0}, ["depth must be >= 1, got 0", "var_w and var_b must be > 0"]),
        ("dkl", {"widths": [0], "lr": 0.0}, ["widths must be a non-empty list", "lr and pretrain_lr must be > 0"]),
        ("laplace", {"steps": -1, "noise_var": 0.0}, ["steps must be >= 0, got -1", "noise_var must be > 0"]),
        ("sghmc", {"lr": 0.0, "num_steps": 0}, ["'lr' = 0.0; expected a number > 0", "'num_steps' = 0"]),
        (
            "ensemble",
            {"n_members": 0, "lr": -1.0, "depth": 3},
            ["3 bad settings", "unknown setting(s) 'depth'", "'lr' = -1.0", "'n_members' = 0"],
        ),
    ],
)
def test_every_bad_value_of_a_surrogate_is_reported_at_once(name, settings, parts):
    with pytest.raises(ConfigError) as info:
        _surrogate(name, **settings)
    assert all(p in str(info.value) for p in parts), str(info.value)


def test_an_empty_bnnbo_db_variable_means_the_default_file(monkeypatch):
    from bnnbo.schema import DEFAULT_URL, resolve_url

    monkeypatch.setenv("BNNBO_DB", "")
    assert resolve_url(None) == DEFAULT_URL
    with pytest.raises(ConfigError, match="the store URL is empty"):
        resolve_url("")  # given explicitly (--db ""): refused, see docs/studies.md
