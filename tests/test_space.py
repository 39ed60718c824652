import pytest
import torch

from bnnbo import Categorical, ConfigError, DataError, Float, Integer, SearchSpace


@pytest.fixture
def mixed():
    return SearchSpace(
        [
            Float("lr", 1e-4, 1e-1, log=True),
            Float("x", -2.0, 3.0),
            Integer("layers", 1, 4),
            Categorical("act", ("relu", "tanh", "gelu")),
        ]
    )


def test_round_trip_and_unit_range(mixed):
    X = mixed.sobol(64, seed=3)
    U = mixed.to_unit(X)
    assert U.min() >= 0 and U.max() <= 1
    assert torch.allclose(mixed.from_unit(U), X, atol=1e-12)
    assert set(X[:, 2].tolist()) <= {1.0, 2.0, 3.0, 4.0}
    assert set(X[:, 3].tolist()) <= {0.0, 1.0, 2.0}


def test_discrete_levels_sit_at_cell_centres(mixed):
    X = torch.tensor([[0.01, 0.0, 1, 0], [0.01, 0.0, 4, 2]], dtype=torch.float64)
    U = mixed.to_unit(X)
    assert U[:, 2].tolist() == pytest.approx([0.125, 0.875])
    assert U[:, 3].tolist() == pytest.approx([1 / 6, 5 / 6])
    # any point of a cell snaps to its level
    assert mixed.from_unit(torch.tensor([[0.5, 0.5, 0.2499, 0.34]]))[0, 2:].tolist() == [1.0, 1.0]
    assert mixed.from_unit(torch.ones(1, 4))[0, 2:].tolist() == [4.0, 2.0]


def test_log_scale(mixed):
    U = mixed.to_unit(torch.tensor([[1e-4, 0, 1, 0], [1e-1, 0, 1, 0], [10**-2.5, 0, 1, 0]]))
    assert U[:, 0].tolist() == pytest.approx([0.0, 1.0, 0.5])


def test_sobol_is_seeded(mixed):
    assert torch.equal(mixed.sobol(8, seed=1), mixed.sobol(8, seed=1))
    assert not torch.equal(mixed.sobol(8, seed=1), mixed.sobol(8, seed=2))


def test_to_dicts(mixed):
    rows = mixed.to_dicts(torch.tensor([[0.01, 1.5, 3, 1]], dtype=torch.float64))
    assert rows == [{"lr": pytest.approx(0.01), "x": 1.5, "layers": 3, "act": "tanh"}]


@pytest.mark.parametrize(
    "X, msg",
    [
        (torch.zeros(2, 3), "shape n x 4"),
        (torch.tensor([[0.01, 5.0, 1, 0]]), "outside the bounds of 'x'"),
        (torch.tensor([[0.01, 0.0, 1.5, 0]]), "'layers' must be a whole number"),
        (torch.tensor([[0.01, float("nan"), 1, 0]]), "expected a finite number"),
        (torch.tensor([[0.01, 0.0, 1, 3]]), "outside the bounds of 'act'"),
    ],
)
def test_validation_errors(mixed, X, msg):
    with pytest.raises(DataError, match=msg):
        mixed.validate(X)


@pytest.mark.parametrize(
    "make, msg",
    [
        (lambda: Float("a", 1.0, 1.0), "low < high"),
        (lambda: Float("a", 0.0, 1.0, log=True), "log scale needs low > 0"),
        (lambda: Integer("a", 0, 2.5), "whole numbers"),
        (lambda: Categorical("a", ("x",)), "at least 2 distinct"),
        (lambda: SearchSpace([Float("a", 0, 1), Float("a", 0, 2)]), "duplicate parameter names"),
        (lambda: SearchSpace([]), "at least one parameter"),
    ],
)
def test_bad_definitions(make, msg):
    with pytest.raises(ConfigError, match=msg):
        make()
