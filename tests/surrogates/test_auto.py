import pytest
import torch
from gpytorch.kernels import MaternKernel

from bnnbo import ConfigError, SurrogateError, UnknownNameError, get_surrogate, optimize
from bnnbo.assess import score
from bnnbo.surrogates.base import Surrogate
from bnnbo.testing.conformance import check_surrogate, toy_data


def test_conformance():
    check_surrogate(lambda: get_surrogate("auto"))


def _matern_draw(n_train, n_test, seed):
    """A 1-D draw from a Matern-5/2 GP with lengthscale 0.05: the Matern GP is the right model."""
    g = torch.Generator().manual_seed(seed)
    X = torch.rand(n_train + n_test, 1, generator=g, dtype=torch.float64)
    kernel = MaternKernel(nu=2.5).double()
    kernel.lengthscale = 0.05
    K = kernel(X).to_dense().detach() + 1e-8 * torch.eye(len(X), dtype=torch.float64)
    Y = torch.linalg.cholesky(K) @ torch.randn(len(X), 1, generator=g, dtype=torch.float64)
    return X[:n_train], Y[:n_train], X[n_train:], Y[n_train:]


@pytest.mark.parametrize("holdout", ["recent", "kfold"])
@pytest.mark.parametrize("seed", [0, 1])
def test_chooses_the_clearly_better_candidate(holdout, seed):
    X, Y, Xt, Yt = _matern_draw(40, 300, seed)
    nll = {c: sum(score(get_surrogate(c).fit(X, Y), Xt, Yt, Y)["nll"]) for c in ("gp", "ibnn")}
    assert nll["gp"] < nll["ibnn"] - 1.0, f"setup: the GP should be clearly better, got {nll}"
    auto = get_surrogate("auto", candidates=["ibnn", "gp"], holdout=holdout)
    auto.fit(X, Y, seed=seed)
    assert auto.diagnostics_["choice"] == "gp"
    scores = auto.diagnostics_["scores"]
    assert scores["gp"] > scores["ibnn"]


def test_rescores_every_k_fits_and_carries_state():
    auto = get_surrogate("auto", every=3)
    X, Y = toy_data(n=20)
    state, scored = None, []
    for k in range(5):
        auto.fit(X[: 12 + k], Y[: 12 + k], seed=k, state=state)
        state = auto.state_
        scored.append(auto.diagnostics_["scored"])
        assert auto.diagnostics_["choice"] in ("gp", "ibnn")
    assert scored == [True, False, False, True, False]
    assert state["fits"] == 5


def test_holdout_splits():
    auto = get_surrogate("auto", holdout_fraction=0.25)
    ((train, test),) = auto.splits(20, seed=0)
    assert test.tolist() == list(range(15, 20)) and train.tolist() == list(range(15))
    kfold = get_surrogate("auto", holdout="kfold", folds=4)
    splits = kfold.splits(10, seed=0)
    assert len(splits) == 4
    assert sorted(torch.cat([t for _, t in splits]).tolist()) == list(range(10))
    for train, test in splits:
        assert not set(train.tolist()) & set(test.tolist())


class Broken(Surrogate):
    name = "broken"

    def _fit(self, X, Y, *, seed, state):
        raise SurrogateError("diverged")


def test_failing_candidate_is_recorded_not_fatal():
    auto = get_surrogate("auto")
    auto.members["ibnn"] = Broken()
    X, Y = toy_data()
    auto.fit(X, Y)
    assert auto.diagnostics_["choice"] == "gp"
    assert auto.diagnostics_["scores"]["ibnn"] is None
    assert "diverged" in auto.diagnostics_["errors"]["ibnn"]
    auto.members["gp"] = Broken()
    with pytest.raises(SurrogateError, match="every candidate failed"):
        auto.fit(X, Y)


@pytest.mark.parametrize(
    "kwargs, err, msg",
    [
        ({"candidates": []}, ConfigError, "at least one surrogate"),
        ({"candidates": ["gp", "auto"]}, ConfigError, "cannot include 'auto'"),
        ({"candidates": ["gp", "gpx"]}, UnknownNameError, "auto: candidate 'gpx': unknown surrogate 'gpx'"),
        ({"candidate_settings": {"dkl": {}}}, ConfigError, r"candidate_settings for \['dkl'\]"),
        ({"every": 0}, ConfigError, "every >= 1"),
        ({"holdout": "last"}, ConfigError, "expected 'recent' or 'kfold'"),
        ({"holdout_fraction": 1.5}, ConfigError, r"holdout_fraction must be in \(0, 1\), got 1.5"),
    ],
)
def test_bad_settings(kwargs, err, msg):
    with pytest.raises(err, match=msg):
        get_surrogate("auto", **kwargs)


def test_labels_allow_two_configurations_of_one_surrogate():
    auto = get_surrogate("auto", candidates=["gp", "gp/paper"], candidate_settings={"gp/paper": {"priors": "paper"}})
    assert auto.members["gp/paper"].settings.priors == "paper"
    X, Y = toy_data()
    auto.fit(X, Y)
    assert set(auto.diagnostics_["scores"]) == {"gp", "gp/paper"}


@pytest.mark.parametrize("problem", ["branin", "branincurrin"])
def test_bo_end_to_end_records_choices(problem):
    r = optimize(problem, "auto", budget=10, q=2, n_init=6, seed=1)
    assert r.X.shape[0] == 10 and torch.isfinite(r.Y).all()
    assert len(r.diagnostics) == 2
    for d in r.diagnostics:
        assert d["choice"] in ("gp", "ibnn") and set(d["scores"]) == {"gp", "ibnn"}
