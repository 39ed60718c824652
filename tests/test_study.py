"""Study files: parsing, cells, and validation that reports every problem with a clear message."""

from importlib.resources import files
from pathlib import Path

import pytest

from bnnbo.errors import ConfigError
from bnnbo.study import StudyError, load_study, parse_study

GOOD = """
name = "s1"
seeds = 2
acquisition = "paper"
[problems.branin]
n_init = 4
q = 2
iterations = 3
[problems.dtlz]
problem = "dtlz1"
options = { dim = 4, num_objectives = 2 }
[surrogates.gp]
[surrogates.gp-paper]
surrogate = "gp"
settings = { priors = "paper" }
[surrogates.ibnn]
settings = { preset = "paper:synthetic" }
"""


def test_good_study_gives_cells_in_problem_seed_surrogate_order():
    study = parse_study(GOOD)
    assert study.name == "s1" and study.seeds == (0, 1) and study.acquisition == "paper"
    cells = study.cells()
    assert len(cells) == 2 * 2 * 3
    first = cells[0]
    assert (first.problem, first.seed, first.surrogate) == ("branin", 0, "gp")
    assert (first.n_init, first.q, first.iterations, first.budget) == (4, 2, 3, 10)
    dtlz = next(c for c in cells if c.problem == "dtlz")
    assert dtlz.problem_name == "dtlz1" and dtlz.problem_options == {"dim": 4, "num_objectives": 2}
    assert (dtlz.n_init, dtlz.q, dtlz.iterations) == (10, 10, 9)  # the problem's study budget
    labels = [c.surrogate for c in cells[:3]]
    assert labels == ["gp", "gp-paper", "ibnn"]
    paper = cells[1]
    assert paper.surrogate_name == "gp" and paper.resolved_settings["priors"] == "paper"
    assert cells[0].resolved_settings["priors"] == "modern"
    assert cells[2].resolved_settings["var_b"] == 1.3


def test_seed_list_and_config_identity_ignores_iterations():
    a = parse_study(GOOD.replace("seeds = 2", "seeds = [3, 7]")).cells()
    b = parse_study(GOOD.replace("seeds = 2", "seeds = [3, 7]").replace("iterations = 3", "iterations = 9")).cells()
    assert [c.seed for c in a[:6:3]] == [3, 7]
    assert a[0].config() == b[0].config() and a[0].budget != b[0].budget


# each bad file must produce exactly these fragments (one problem each unless stated)
BAD = [
    ("name = 's'\nseeds = 1\n[problems.branin\n", ["not valid TOML"]),
    ("seeds = 1\n[problems.branin]\n[surrogates.gp]\n", ["name is missing"]),
    ("name = 'a b'\nseeds = 1\n[problems.branin]\n[surrogates.gp]\n", ["name = 'a b'", "letters, digits"]),
    ("name = 's'\n[problems.branin]\n[surrogates.gp]\n", ["seeds is missing"]),
    ("name = 's'\nseeds = 0\n[problems.branin]\n[surrogates.gp]\n", ["seeds = 0; expected an integer >= 1"]),
    ("name = 's'\nseeds = [1, 1]\n[problems.branin]\n[surrogates.gp]\n", ["expected each seed once"]),
    ("name = 's'\nseeds = [1, -2]\n[problems.branin]\n[surrogates.gp]\n", ["seeds[1] = -2; expected an integer >= 0"]),
    ("name = 's'\nseeds = 'x'\n[problems.branin]\n[surrogates.gp]\n", ["seeds = 'x'; expected a count"]),
    (
        "name = 's'\nseeds = 1\nseed = 2\n[problems.branin]\n[surrogates.gp]\n",
        ["unknown key 'seed' (did you mean 'seeds'?)"],
    ),
    (
        "name = 's'\nseeds = 1\nacquisition = 'ei'\n[problems.branin]\n[surrogates.gp]\n",
        ["acquisition = 'ei'; expected one of: default, mc, paper"],
    ),
    (
        "name = 's'\nseeds = 1\nacq_optimizer = 'fast'\n[problems.branin]\n[surrogates.gp]\n",
        ["acq_optimizer = 'fast'; expected one of"],
    ),
    ("name = 's'\nseeds = 1\n[surrogates.gp]\n", ["[problems] is missing or empty"]),
    ("name = 's'\nseeds = 1\n[problems.branin]\n", ["[surrogates] is missing or empty"]),
    (
        "name = 's'\nseeds = 1\n[problems.nope]\n[surrogates.gp]\n",
        ["[problems.nope]: unknown problem 'nope'", "branin"],
    ),
    (
        "name = 's'\nseeds = 1\n[problems.branin]\nn_init = 1\n[surrogates.gp]\n",
        ["[problems.branin] n_init = 1; expected an integer >= 2"],
    ),
    ("name = 's'\nseeds = 1\n[problems.branin]\nq = 0\n[surrogates.gp]\n", ["[problems.branin] q = 0"]),
    (
        "name = 's'\nseeds = 1\n[problems.branin]\niterations = 'many'\n[surrogates.gp]\n",
        ["[problems.branin] iterations = 'many'; expected an integer >= 0"],
    ),
    (
        "name = 's'\nseeds = 1\n[problems.branin]\nbudget = 9\n[surrogates.gp]\n",
        ["[problems.branin]: unknown key 'budget'", "allowed: problem, n_init, q, iterations, options"],
    ),
    (
        "name = 's'\nseeds = 1\n[problems.ackley]\noptions = { dims = 3 }\n[surrogates.gp]\n",
        ["[problems.ackley]: problem 'ackley' has no option(s) ['dims']", "allowed: dim"],
    ),
    (
        "name = 's'\nseeds = 1\n[problems.ackley]\noptions = { dim = 0 }\n[surrogates.gp]\n",
        ["[problems.ackley]: ackley: dim must be an integer >= 1, got 0"],
    ),
    (
        "name = 's'\nseeds = 1\n[problems.branin]\noptions = 3\n[surrogates.gp]\n",
        ["[problems.branin] options = 3; expected a table"],
    ),
    (
        "name = 's'\nseeds = 1\n[problems.branin]\nproblem = 5\n[surrogates.gp]\n",
        ["[problems.branin] problem = 5; expected a registered problem name"],
    ),
    ("name = 's'\nseeds = 1\nproblems = 3\n[surrogates.gp]\n", ["[problems] is missing or empty"]),
    ("name = 's'\nseeds = 1\n[problems]\nbranin = 3\n[surrogates.gp]\n", ["[problems.branin]: expected a table"]),
    (
        "name = 's'\nseeds = 1\n[problems.branin]\n[surrogates.gpp]\n",
        ["[surrogates.gpp]: unknown surrogate 'gpp'; expected one of:", "gp"],
    ),
    (
        "name = 's'\nseeds = 1\n[problems.branin]\n[surrogates.gp]\nsettings = { prior = 'paper' }\n",
        ["[surrogates.gp]: gp: unknown setting(s) 'prior'; allowed: priors"],
    ),
    (
        "name = 's'\nseeds = 1\n[problems.branin]\n[surrogates.gp]\nsettings = { priors = 'old' }\n",
        ["[surrogates.gp]: gp: setting 'priors' = 'old'; expected 'modern' or 'paper'"],
    ),
    (
        "name = 's'\nseeds = 1\n[problems.branin]\n[surrogates.ibnn]\nsettings = { depth = 2.5 }\n",
        ["setting 'depth' = 2.5; expected an integer"],
    ),
    (
        "name = 's'\nseeds = 1\n[problems.branin]\n[surrogates.ibnn]\nsettings = { preset = 'paper:moon' }\n",
        [
            "unknown preset 'paper:moon'; expected one of: paper:ackley, paper:branin",
            "paper:realworld, paper:synthetic",
        ],
    ),
    (
        "name = 's'\nseeds = 1\n[problems.branin]\n[surrogates.gp]\nsurrogate = ['gp']\n",
        ["[surrogates.gp] surrogate = ['gp']; expected a registered surrogate name"],
    ),
    (
        "name = 's'\nseeds = 1\n[problems.branin]\n[surrogates.gp]\nsettings = 'paper'\n",
        ["[surrogates.gp] settings = 'paper'; expected a table of surrogate settings"],
    ),
    (
        "name = 's'\nseeds = 1\n[problems.branin]\n[surrogates.'g p']\nsurrogate = 'gp'\n",
        ["label 'g p' must use letters, digits"],
    ),
]


@pytest.mark.parametrize("text, fragments", BAD, ids=[f"bad{i}" for i in range(len(BAD))])
def test_bad_study_files_name_the_key_and_the_expectation(text, fragments):
    with pytest.raises(StudyError) as info:
        parse_study(text, source="bad.toml")
    assert isinstance(info.value, ConfigError)
    message = str(info.value)
    assert message.startswith("bad.toml: ")
    for fragment in fragments:
        assert fragment in message, message
    assert len(info.value.problems) == 1, info.value.problems


def test_every_problem_of_a_file_is_reported_at_once():
    text = """
name = "bad name"
seeds = 0
acquisition = "ei"
colour = "red"
[problems.nope]
[problems.branin]
q = -1
[surrogates.gp]
settings = { prior = "paper" }
[surrogates.what]
"""
    with pytest.raises(StudyError) as info:
        parse_study(text)
    assert len(info.value.problems) == 8
    message = str(info.value)
    for fragment in (
        "name = 'bad name'",
        "seeds = 0",
        "acquisition = 'ei'",
        "unknown key 'colour'",
        "unknown problem 'nope'",
        "q = -1",
        "unknown setting(s) 'prior'",
        "unknown surrogate 'what'",
    ):
        assert fragment in message


def test_missing_budget_without_a_study_budget(monkeypatch):
    import dataclasses

    from bnnbo.problems import problem_info

    info = dataclasses.replace(problem_info("branin"), paper_budget=None)
    monkeypatch.setattr("bnnbo.problems.problem_info", lambda name, **o: info)
    with pytest.raises(StudyError, match="n_init is missing \\(problem 'branin' has no study budget\\)"):
        parse_study("name = 's'\nseeds = 1\n[problems.branin]\n[surrogates.gp]\n")


def test_load_study_reads_files_and_names_unreadable_ones(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text(GOOD)
    assert load_study(path).source == GOOD
    with pytest.raises(ConfigError, match="cannot read study file .*missing.toml"):
        load_study(tmp_path / "missing.toml")


SHIPPED = files("bnnbo") / "configs"
PAPER = sorted(Path(str(SHIPPED / "paper")).glob("*.toml"))
#: the study's budgets (bnn-bo-study.md §3)
BUDGETS = {
    "branin": 100,
    "hartmann": 200,
    "ackley": 200,
    "branincurrin": 105,
    "dtlz1": 100,
    "dtlz5": 110,
    "pde": 35,
    "lunar": 550,
    "pest": 120,
    "oil": 200,
    "poly": 350,
    "bnn_400": 600,
    "kd": 350,
}


def test_demo_study_is_valid():
    demo = parse_study((SHIPPED / "demo.toml").read_text())
    assert {p["problem_name"] for p in demo.problems} == {"branin", "hartmann6"}
    assert {"gp", "ibnn"} <= {s["label"] for s in demo.surrogates} and demo.seeds == (0, 1, 2)


def test_every_synthetic_configuration_of_the_study_is_shipped():
    assert {p.stem for p in PAPER} >= {"branin", "hartmann", "ackley", "branincurrin", "dtlz1", "dtlz5"}


@pytest.mark.parametrize("path", PAPER, ids=[p.stem for p in PAPER])
def test_paper_study_files_are_valid(path):
    try:
        study = load_study(path)
    except StudyError as exc:  # a real-world problem whose optional dependencies are missing
        if all("unavailable" in p for p in exc.problems):
            pytest.skip(f"{path.name}: {exc.problems[0][:200]}")
        raise
    cell = study.cells()[0]
    assert study.acquisition == "paper" and study.seeds == tuple(range(5))
    assert cell.budget == BUDGETS[path.stem]
    labels = {s["label"] for s in study.surrogates}
    assert {"gp", "ibnn", "dkl", "hmc", "sghmc", "ensemble"} <= labels
    gp = next(s for s in study.surrogates if s["label"] == "gp")
    assert gp["resolved_settings"]["priors"] == "paper"


def test_settings_the_loop_refuses_for_a_problem_are_reported_at_load():
    text = """
name = "s"
seeds = 1
[problems.branin]
n_init = 4
q = 2
iterations = 3
[problems.single]
problem = "hartmann6"
n_init = 4
q = 1
iterations = 3
[surrogates.hedge]
surrogate = "auto"
settings = { combine = "hedge" }
[surrogates.samples]
surrogate = "gp"
settings = { hyper_samples = 4 }
[surrogates.gp]
"""
    with pytest.raises(StudyError) as info:
        parse_study(text, source="pairs.toml")
    problems = info.value.problems
    assert len(problems) == 2, problems  # each refused pair once; hartmann6 at q = 1 takes both
    assert problems[0].startswith("[problems.branin] x [surrogates.hedge]: ") and "got q=2" in problems[0]
    assert problems[1].startswith("[problems.branin] x [surrogates.samples]: ") and "hyper_samples=4" in problems[1]
    assert parse_study(text.replace("q = 2", "q = 1")).name == "s"
