import math

import pytest
import torch

from bnnbo import ConfigError, DataError, UnknownNameError, get_problem

T = lambda *rows: torch.tensor(rows, dtype=torch.float64)  # noqa: E731


def test_branin_optima_published():
    p = get_problem("branin")
    X = T([-math.pi, 12.275], [math.pi, 2.275], [9.42478, 2.475])
    assert p.evaluate(X)[:, 0].tolist() == pytest.approx([-0.397887] * 3, abs=1e-5)
    assert p.optimal_value == pytest.approx(-0.397887)
    # the direction: any other point is worse (maximisation of the negated function)
    assert p.evaluate(T([0.0, 0.0])).item() < p.optimal_value


def test_hartmann6_optimum_published():
    p = get_problem("hartmann6")
    x = T([0.20169, 0.150011, 0.476874, 0.275332, 0.311652, 0.6573])
    assert p.evaluate(x).item() == pytest.approx(3.32237, abs=1e-4)
    assert p.optimal_value == pytest.approx(3.32237)


@pytest.mark.parametrize("dim", [2, 10])
def test_ackley(dim):
    p = get_problem("ackley", dim=dim) if dim != 10 else get_problem("ackley")
    assert p.dim == dim
    assert p.evaluate(torch.zeros(1, dim)).item() == pytest.approx(0.0, abs=1e-12)
    # a hand computation at x = 1: -(-20 exp(-0.2) - exp(1) + 20 + e) since cos(2 pi) = 1
    expected = -(-20 * math.exp(-0.2) - math.exp(1.0) + 20 + math.e)
    assert p.evaluate(torch.ones(1, dim)).item() == pytest.approx(expected)


def test_branincurrin_ref_point_and_values():
    p = get_problem("branincurrin")
    assert p.num_objectives == 2 and p.ref_point.tolist() == [-18.0, -6.0]
    assert p.max_hv == pytest.approx(59.36011874867746)
    x = T([0.5, 0.5])
    # Branin(15*0.5-5, 15*0.5) and Currin(0.5, 0.5) by their definitions
    x1, x2 = 2.5, 7.5
    b = (
        (x2 - 5.1 / (4 * math.pi**2) * x1**2 + 5 / math.pi * x1 - 6) ** 2
        + 10 * (1 - 1 / (8 * math.pi)) * math.cos(x1)
        + 10
    )
    c = (
        (1 - math.exp(-1 / (2 * 0.5)))
        * (2300 * 0.125 + 1900 * 0.25 + 2092 * 0.5 + 60)
        / (100 * 0.125 + 500 * 0.25 + 4 * 0.5 + 20)
    )
    assert p.evaluate(x)[0].tolist() == pytest.approx([-b, -c])


def test_dtlz_front_and_ref_points():
    p1 = get_problem("dtlz1")
    assert (p1.dim, p1.num_objectives, p1.ref_point.tolist()) == (5, 2, [-400.0, -400.0])
    # on the Pareto front (last k coordinates 0.5) the objectives sum to 0.5
    x = torch.full((1, 5), 0.5, dtype=torch.float64)
    x[0, 0] = 0.3
    assert -p1.evaluate(x).sum().item() == pytest.approx(0.5)
    p5 = get_problem("dtlz5")
    assert (p5.dim, p5.num_objectives, p5.ref_point.tolist()) == (20, 3, [-10.0] * 3)
    y = -p5.evaluate(torch.full((1, 20), 0.5, dtype=torch.float64))
    assert (y**2).sum().item() == pytest.approx(1.0)  # DTLZ5's front lies on the unit sphere


@pytest.mark.parametrize("name", ["branin", "hartmann6", "ackley", "branincurrin", "dtlz1", "dtlz5"])
def test_bad_inputs(name):
    p = get_problem(name)
    with pytest.raises(DataError, match=r"shape n x"):
        p.evaluate(torch.zeros(2, p.dim + 1))
    high = p.space.bounds[1].clone().unsqueeze(0)
    high[0, 0] += 1.0
    with pytest.raises(DataError, match="outside the bounds"):
        p.evaluate(high)


def test_registry_errors():
    with pytest.raises(UnknownNameError, match="unknown problem 'nope'.*branin"):
        get_problem("nope")
    with pytest.raises(ConfigError, match=r"no option\(s\) \['dims'\]; allowed: dim"):
        get_problem("ackley", dims=3)
    with pytest.raises(ConfigError, match="dim must be an integer"):
        get_problem("ackley", dim=0)
