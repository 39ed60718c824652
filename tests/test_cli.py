import pytest

from bnnbo.cli import main, parse_assignments


def test_problems_and_surrogates_listing(capsys):
    assert main(["problems"]) == 0
    out = capsys.readouterr().out
    for name in ("branin", "hartmann6", "ackley", "branincurrin", "dtlz1", "dtlz5"):
        assert name in out
    assert main(["surrogates"]) == 0
    out = capsys.readouterr().out
    assert "gp" in out and "priors = 'modern'" in out and "var_w = 10.0" in out


def test_optimize_shows_best_point(capsys):
    code = main(
        [
            "optimize",
            "--problem",
            "branin",
            "--surrogate",
            "gp",
            "--budget",
            "7",
            "--seed",
            "0",
            "--n-init",
            "5",
            "--set",
            "priors=paper",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "best value" in out and "x0=" in out and "regret" in out and "7 evaluations" in out


def test_optimize_multiobjective(capsys):
    assert main(["optimize", "--problem", "branincurrin", "--budget", "6", "--n-init", "5"]) == 0
    assert "dominated hypervolume" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv, msg",
    [
        (["optimize", "--problem", "nope"], "unknown problem 'nope'"),
        (["optimize", "--problem", "branin", "--set", "depth=2"], "unknown setting(s) 'depth'"),
        (["optimize", "--problem", "branin", "--surrogate", "ibnn", "--set", "depth=x"], "'depth' = 'x'"),
        (["optimize", "--problem", "ackley", "--option", "dim=0"], "dim must be an integer >= 1"),
        (["optimize", "--problem", "branin", "--set", "priors"], "expected key=value"),
    ],
)
def test_bad_arguments_give_one_clear_error(capsys, argv, msg):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert msg in " ".join(err.split())


def test_parse_assignments():
    assert parse_assignments(["a=1", "b=true", "c=[1, 2]", "d=relu", "e=0.5"]) == {
        "a": 1,
        "b": True,
        "c": [1, 2],
        "d": "relu",
        "e": 0.5,
    }
