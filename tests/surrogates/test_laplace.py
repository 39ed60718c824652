import math

import pytest
import torch

from bnnbo import ConfigError, get_surrogate, optimize
from bnnbo.problems import PROBLEMS
from bnnbo.surrogates.networks.laplace import LaplaceModel, log_evidence, ntk, ntk_terms
from bnnbo.surrogates.networks.mlp import MLPSpec
from bnnbo.testing.conformance import check_surrogate, toy_data

CHEAP = {"widths": [16, 16], "steps": 300, "lr": 0.02}


def _tiny(m=2, seed=0):
    spec = MLPSpec(3, (4, 5), m, "tanh")
    theta = spec.init(1, torch.Generator().manual_seed(seed))
    return spec, theta


def _jacobian(spec, theta, X):
    """``n*m x P`` Jacobian of the outputs w.r.t. the weights, by autograd."""
    J = torch.autograd.functional.jacobian(lambda t: spec.forward(t.unsqueeze(0), X)[0], theta[0])
    return J.reshape(-1, spec.num_params)


def test_conformance():
    check_surrogate(lambda: get_surrogate("laplace", **CHEAP))


@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_layerwise_ntk_equals_jacobian_product(activation):
    spec = MLPSpec(3, (4, 5), 2, activation)
    theta = spec.init(1, torch.Generator().manual_seed(1))
    X, X2 = torch.rand(6, 3, dtype=torch.float64), torch.rand(4, 3, dtype=torch.float64)
    f, *t1 = ntk_terms(spec, theta, X)
    _, *t2 = ntk_terms(spec, theta, X2)
    assert torch.allclose(f, spec.forward(theta, X)[0])
    K = ntk(t1, t2).reshape(12, 8)
    assert torch.allclose(K, _jacobian(spec, theta, X) @ _jacobian(spec, theta, X2).T, atol=1e-12)


def test_predictive_equals_parameter_space_laplace():
    spec, theta = _tiny()
    X, Xs = torch.rand(7, 3, dtype=torch.float64), torch.rand(3, 3, dtype=torch.float64)
    v, s2 = 0.7, 0.05
    model = LaplaceModel(spec, theta, X, v, s2, torch.zeros(2, dtype=torch.float64), torch.ones(2, dtype=torch.float64))
    J, Js = _jacobian(spec, theta, X), _jacobian(spec, theta, Xs)
    H = J.T @ J / s2 + torch.eye(spec.num_params, dtype=torch.float64) / v  # exact GGN + prior
    expected = Js @ torch.linalg.solve(H, Js.T)
    mean, cov = model._predict(Xs, noise=False)
    assert torch.allclose(cov, expected, atol=1e-6)
    assert torch.allclose(mean, spec.forward(theta, Xs)[0])


def test_joint_covariance_over_q_points():
    X, Y = toy_data(m=2)
    model = get_surrogate("laplace", **CHEAP).fit(X, Y)
    Xq = torch.rand(4, 3, dtype=torch.float64)
    joint = model.posterior(Xq.unsqueeze(0))
    single = model.posterior(Xq.unsqueeze(1))
    assert torch.allclose(joint.variance[0], single.variance[:, 0])
    cov = joint.mvn.covariance_matrix[0]
    assert cov.shape == (8, 8)
    off = cov - torch.diag_embed(cov.diagonal())
    assert off.abs().max() > 1e-3 * cov.diagonal().max(), "q points must be correlated"
    assert torch.linalg.eigvalsh(cov).min() > 0
    one = model.posterior(Xq.unsqueeze(0), output_indices=[1])
    assert torch.allclose(one.variance[0, :, 0], joint.variance[0, :, 1])


def test_hyperparameters_maximise_the_evidence():
    X, Y = toy_data(n=20)
    s = get_surrogate("laplace", **CHEAP)
    s.fit(X, Y)
    v, s2 = s.diagnostics_["prior_var"], s.diagnostics_["noise_var"]
    spec = MLPSpec(3, (16, 16), 1, "tanh")
    theta = s.state_["theta"]
    Z = (Y - Y.mean(0)) / Y.std(0)
    f, *terms = ntk_terms(spec, theta, X)
    lam = torch.linalg.eigvalsh(ntk(terms, terms).reshape(20, 20))
    args = (lam, ((f - Z) ** 2).sum(), (theta**2).sum())
    ev = lambda a, b: float(log_evidence(torch.tensor(math.log(a)), torch.tensor(math.log(b)), *args))
    best = ev(v, s2)
    for a, b in [(v * 2, s2), (v / 2, s2), (v, s2 * 2), (v, s2 / 2)]:
        assert best >= ev(a, b) - 1e-6


def test_warm_start_uses_previous_weights():
    X, Y = toy_data()
    s = get_surrogate("laplace", **CHEAP)
    s.fit(X, Y)
    assert s.diagnostics_["warm_started"] is False and s.state_["theta"].shape == (1, 353)
    s.fit(X, Y, state=s.state_)
    assert s.diagnostics_["warm_started"] is True
    get_surrogate("laplace", **{**CHEAP, "widths": [8]}).fit(X, Y, state=s.state_)  # shape mismatch: cold


def test_paper_presets():
    for name in PROBLEMS:
        assert f"paper:{name}" in get_surrogate("laplace").presets, f"no Laplace preset for {name}"
    s = get_surrogate("laplace", preset="paper:hartmann6").settings
    # the study's hartmann config gives Laplace no noise_var: its code's fallback is 1.0
    assert (s.lr, s.prior_var, s.noise_var, s.standardize_y, s.tune_noise) == (0.1, 1.0, 1.0, False, False)


@pytest.mark.parametrize(
    "kwargs, msg",
    [
        ({"widths": []}, "widths must be a non-empty list"),
        ({"prior_var": 0.0}, "prior_var must be > 0, got 0.0"),
        ({"noise_var": -1}, "noise_var must be > 0"),
        ({"steps": -5}, "steps must be >= 0"),
        ({"tune_prior": "yes"}, "expected true or false"),
    ],
)
def test_bad_settings(kwargs, msg):
    with pytest.raises(ConfigError, match=msg):
        get_surrogate("laplace", **kwargs)


@pytest.mark.parametrize("problem", ["branin", "branincurrin"])
def test_bo_end_to_end(problem):
    r = optimize(problem, "laplace", budget=10, q=2, n_init=6, surrogate_settings=CHEAP, seed=1)
    assert r.X.shape[0] == 10 and torch.isfinite(r.Y).all()
    assert r.diagnostics[1]["warm_started"] is True


def test_last_layer_variant_uses_only_output_weights():
    spec, theta = _tiny(m=1)
    X = torch.rand(6, 3, dtype=torch.float64)
    _, *terms = ntk_terms(spec, theta, X, last_layer=True)
    J = _jacobian(spec, theta, X)[:, -(5 + 1) :]  # flat layout ends with W_L (5 x 1) then b_L
    assert torch.allclose(ntk(terms, terms).reshape(6, 6), J @ J.T, atol=1e-12)
    X3, Y3 = toy_data()
    s = get_surrogate("laplace", **CHEAP, weights="last_layer")
    post = s.fit(X3, Y3).posterior(torch.rand(2, 3, 3, dtype=torch.float64))
    assert post.variance.shape == (2, 3, 1) and (post.variance > 0).all()
