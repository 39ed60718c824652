import pytest
import torch

from bnnbo import ConfigError, UnknownNameError, get_surrogate, optimize
from bnnbo.testing.conformance import check_surrogate, toy_data

LAPLACE = {"widths": [16], "steps": 300, "lr": 0.02}


def test_conformance():
    check_surrogate(lambda: get_surrogate("hybrid", mean="ibnn", uncertainty="gp"))


def test_mean_of_one_uncertainty_of_the_other():
    X, Y = toy_data(m=2)
    Xt = torch.rand(5, 3, 3, dtype=torch.float64)
    hybrid = get_surrogate("hybrid", mean="laplace", uncertainty="gp", mean_settings=LAPLACE).fit(X, Y, seed=4)
    mean_model = get_surrogate("laplace", **LAPLACE).fit(X, Y, seed=4)
    unc_model = get_surrogate("gp").fit(X, Y, seed=4)
    h, a, b = hybrid.posterior(Xt), mean_model.posterior(Xt), unc_model.posterior(Xt)
    assert torch.allclose(h.mean, a.mean) and torch.allclose(h.variance, b.variance)
    assert not torch.allclose(h.mean, b.mean)
    torch.manual_seed(0)
    sh = h.rsample(torch.Size([4]))
    torch.manual_seed(0)
    sb = b.rsample(torch.Size([4]))
    assert torch.allclose(sh - h.mean, sb - b.mean), "spread (and q-point correlation) is the uncertainty member's"


def test_member_states_and_diagnostics_are_kept():
    X, Y = toy_data()
    s = get_surrogate("hybrid", mean="laplace", uncertainty="gp", mean_settings=LAPLACE)
    s.fit(X, Y)
    assert s.state_["mean"]["theta"].shape[0] == 1
    # the GP member keeps its fitted hyperparameters as its warm start (one dict per output)
    gp_state = s.state_["uncertainty"]
    assert len(gp_state) == 1 and "covar_module.base_kernel.raw_lengthscale" in gp_state[0]
    s.fit(X, Y, state=s.state_)
    assert s.diagnostics_["mean"]["warm_started"] is True


@pytest.mark.parametrize(
    "kwargs, err, msg",
    [
        ({"mean": "nope"}, UnknownNameError, "unknown surrogate 'nope'"),
        ({"uncertainty": "hybrid"}, ConfigError, "'uncertainty' = 'hybrid'; expected another surrogate"),
        ({"mean": "gp", "mean_settings": {"priors": "old"}}, ConfigError, "'priors' = 'old'"),
        ({"mean": "gp", "average": "gp"}, UnknownNameError, "unknown setting"),
    ],
)
def test_bad_settings(kwargs, err, msg):
    with pytest.raises(err, match=msg):
        get_surrogate("hybrid", **kwargs)


@pytest.mark.parametrize("problem", ["branin", "branincurrin"])
def test_bo_end_to_end(problem):
    r = optimize(
        problem, "hybrid", budget=10, q=2, n_init=6, seed=1, surrogate_settings={"mean": "ibnn", "uncertainty": "gp"}
    )
    assert r.X.shape[0] == 10 and torch.isfinite(r.Y).all()
    assert set(r.diagnostics[0]) == {"mean", "uncertainty"}


def test_sample_based_uncertainty_member_in_bo():
    ensemble = {"widths": [16, 16], "n_members": 4, "train_steps": 200, "lr": 1e-2}
    make = lambda: get_surrogate("hybrid", mean="gp", uncertainty="ensemble", uncertainty_settings=ensemble)
    check_surrogate(make)
    r = optimize("branin", make(), budget=8, q=2, n_init=6, seed=2)
    assert r.X.shape[0] == 8 and torch.isfinite(r.Y).all()
