import math

import pytest
import torch

from bnnbo import ConfigError
from bnnbo.assess import LEVELS, assess, gaussian_scores, plot_calibration, to_markdown
from bnnbo.cli import main


def _zeros(n):
    return torch.zeros(n, 1, dtype=torch.float64)


def test_nll_and_rmse_known_answer():
    Y = torch.tensor([[1.0], [-2.0], [0.5]], dtype=torch.float64)
    mean, var = torch.tensor([[0.0], [0.0], [1.0]], dtype=torch.float64), torch.full((3, 1), 4.0, dtype=torch.float64)
    s = gaussian_scores(
        mean, var, Y, center=torch.zeros(1, dtype=torch.float64), scale=torch.ones(1, dtype=torch.float64)
    )
    expect = -torch.distributions.Normal(mean, var.sqrt()).log_prob(Y).mean()
    assert s["nll"][0] == pytest.approx(float(expect))
    assert s["rmse"][0] == pytest.approx(math.sqrt((1 + 4 + 0.25) / 3))
    # standardising by scale 2 shifts the NLL by log 2 and halves the RMSE
    s2 = gaussian_scores(
        mean, var, Y, center=torch.zeros(1, dtype=torch.float64), scale=torch.full((1,), 2.0, dtype=torch.float64)
    )
    assert s2["nll"][0] == pytest.approx(float(expect) - math.log(2))
    assert s2["rmse"][0] == pytest.approx(s["rmse"][0] / 2)


def test_coverage_of_calibrated_and_overconfident_models():
    g = torch.Generator().manual_seed(0)
    Y = torch.randn(20000, 1, generator=g, dtype=torch.float64)
    one = torch.ones(1, dtype=torch.float64)
    calibrated = gaussian_scores(_zeros(20000), torch.ones(20000, 1, dtype=torch.float64), Y, 0 * one, one)
    for p in LEVELS:
        assert calibrated["coverage"][p][0] == pytest.approx(p, abs=0.015)
    narrow = gaussian_scores(_zeros(20000), torch.full((20000, 1), 0.25, dtype=torch.float64), Y, 0 * one, one)
    assert narrow["coverage"][0.9][0] < 0.65  # +-1.645*0.5 covers 59% of N(0, 1)
    assert narrow["nll"][0] > calibrated["nll"][0]


def test_assess_scores_each_surrogate(tmp_path):
    results = assess("branin", ["gp", "gp/paper", "ibnn"], n=20, m=200, settings={"gp/paper": {"priors": "paper"}})
    assert [r.label for r in results] == ["gp", "gp/paper", "ibnn"]
    for r in results:
        assert r.error is None and math.isfinite(r.nll) and 0 <= r.rmse < 1
        assert set(LEVELS) <= set(r.coverage)
    md = to_markdown(results)
    assert md.count("\n") == 4 and "| gp/paper |" in md
    plot_calibration(results, str(tmp_path / "c.png"))
    assert (tmp_path / "c.png").stat().st_size > 1000


def test_assess_multi_objective_keeps_per_objective_scores():
    (r,) = assess("branincurrin", ["gp"], n=16, m=100)
    assert len(r.per_objective["nll"]) == 2
    assert r.nll == pytest.approx(sum(r.per_objective["nll"]) / 2)


def test_a_failing_surrogate_is_reported():
    bad = {"widths": [4], "pretrain_steps": 0, "train_steps": 3, "lr": 1e30}
    gp, dkl = assess("branin", ["gp", "dkl"], n=10, m=20, settings={"dkl": bad})
    assert gp.error is None and "diverged" in dkl.error and math.isnan(dkl.nll)


@pytest.mark.parametrize(
    "kwargs, msg",
    [
        ({"n": 1}, "n must be an integer >= 2, got 1"),
        ({"m": 0}, "m must be an integer >= 2"),
        ({"settings": {"dkl": {}}}, r"settings given for \['dkl'\]"),
    ],
)
def test_bad_arguments(kwargs, msg):
    with pytest.raises(ConfigError, match=msg):
        assess("branin", ["gp"], **kwargs)


def test_cli(tmp_path, capsys):
    plot, md = tmp_path / "cal.png", tmp_path / "t.md"
    code = main(
        [
            "assess",
            "--problem",
            "branin",
            "--surrogates",
            "gp,ibnn",
            "--n",
            "12",
            "--m",
            "50",
            "--set",
            "ibnn.depth=2",
            "--plot",
            str(plot),
            "--markdown",
            str(md),
        ]
    )
    out = capsys.readouterr().out
    assert code == 0 and "NLL" in out and "ibnn" in out
    assert plot.exists() and md.read_text().startswith("| surrogate |")
    assert main(["assess", "--problem", "branin", "--set", "depth=2"]) == 2


def test_worker_processes_give_the_same_scores():
    seq = assess("branin", ["gp", "ibnn"], n=12, m=50)
    par = assess("branin", ["gp", "ibnn"], n=12, m=50, workers=2)
    assert [(r.label, r.nll, r.rmse) for r in par] == [(r.label, r.nll, r.rmse) for r in seq]
