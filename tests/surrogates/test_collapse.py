"""The output layer integrated out (bnnbo/surrogates/networks/collapse.py)."""

import pytest
import torch

from bnnbo.surrogates.networks import collapse
from bnnbo.surrogates.networks.hmc import HMCSurrogate
from bnnbo.surrogates.networks.mlp import MLPSpec

D = torch.float64


def _reference_potential(spec, phi, X, Y, noise_var, prior_var):
    """``-log p(phi | y)`` (without 2 pi terms) by autograd-friendly dense algebra."""
    h = X.expand(phi.shape[0], *X.shape)
    act = torch.tanh if spec.activation == "tanh" else torch.relu
    for W, b in spec.body.unflatten(phi):
        h = act(torch.baddbmm(b, h, W))
    N = X.shape[0]
    K = noise_var * torch.eye(N, dtype=D) + prior_var * (h @ h.transpose(1, 2) + 1)
    L = torch.linalg.cholesky(K)
    alpha = torch.cholesky_solve(Y.expand(phi.shape[0], *Y.shape), L)
    m = Y.shape[-1]
    U = 0.5 * (Y * alpha).sum((1, 2)) + m * L.diagonal(dim1=1, dim2=2).log().sum(-1)
    return U + 0.5 * (phi * phi).sum(-1) / prior_var


@pytest.mark.parametrize("activation", ["tanh", "relu"])
@pytest.mark.parametrize("N", [5, 30])  # N <= H + 1: N-space; N > H + 1: weight space
def test_potential_and_gradient_match_dense_autograd(activation, N):
    spec = MLPSpec(3, (6, 7), 2, activation)
    g = torch.Generator().manual_seed(N)
    X = torch.rand(N, 3, generator=g, dtype=D)
    Y = torch.randn(N, 2, generator=g, dtype=D)
    phi = spec.init(3, g)[:, : collapse.hidden_size(spec)].requires_grad_()
    ref = _reference_potential(spec, phi, X, Y, 0.05, 2.0)
    (ref_grad,) = torch.autograd.grad(ref.sum(), phi)
    U, grad, f, *_ = collapse.potential_and_grad(spec, phi.detach().clone(), X, Y, 0.05, 2.0)
    assert torch.allclose(U, ref.detach(), rtol=1e-9, atol=1e-9)
    assert torch.allclose(grad, ref_grad, rtol=1e-7, atol=1e-9)
    assert f.shape == (3, N, 2)


@pytest.mark.parametrize("N", [3, 7])  # N <= H + 1: Matheron's rule in N-space; else weight space
def test_output_layer_draws_follow_the_gaussian_conditional(N):
    """Output layers drawn from the potential's factorisation (as the sampler does): mean
    and covariance of Bayesian linear regression on the hidden features."""
    spec = MLPSpec(2, (3,), 1)
    g = torch.Generator().manual_seed(N)
    X = torch.rand(N, 2, generator=g, dtype=D)
    Y = torch.randn(N, 1, generator=g, dtype=D)
    phi = spec.init(1, g)[:, : collapse.hidden_size(spec)]
    many = phi.expand(20000, -1)
    factor = collapse.potential_and_grad(spec, many, X, Y, 0.1, 1.0)[3:]
    from_factor = collapse.draw_output_layer(factor, 0.1, 1.0, g)
    W1, b1 = spec.body.unflatten(phi)[0]
    F = torch.cat([torch.tanh(X @ W1[0] + b1[0]), torch.ones(N, 1, dtype=D)], -1)
    cov = torch.linalg.inv(F.T @ F / 0.1 + torch.eye(4, dtype=D))
    mean = cov @ F.T @ Y / 0.1
    se = (cov.diagonal() / 20000).sqrt()
    nets = collapse.join(many, from_factor)
    assert torch.equal(nets[:, : phi.shape[1]], many)
    w = nets[:, phi.shape[1] :]  # W (3 x 1) then b
    assert ((w.mean(0) - mean.squeeze(-1)).abs() / se).max() < 5
    assert torch.allclose(torch.cov(w.T), cov, rtol=0.08, atol=0.02 * cov.diagonal().max())


def test_collapsed_and_full_hmc_agree_on_a_small_network():
    """Integrating the output layer out changes the sampler, not the posterior: both
    give the same predictive mean and variance (within Monte-Carlo error)."""
    g = torch.Generator().manual_seed(3)
    X = torch.rand(8, 1, generator=g, dtype=D)
    Y = torch.sin(6 * X) + 0.1 * torch.randn(8, 1, generator=g, dtype=D)
    Xt = torch.linspace(-0.2, 1.2, 9, dtype=D).unsqueeze(-1)
    common = {
        "widths": [5],
        "noise_std": 0.3,
        "prior_var": 1.0,
        "standardize_y": False,
        "pretrain_steps": 200,
        "pretrain_lr": 1e-2,
        "n_chains": 8,
        "thin": 1,
        "n_burn_in": 300,
        "n_samples": 1500,
        "path_length": 1.0,
        "dtype": "float64",
    }
    out = {}
    for collapsed in (True, False):
        sur = HMCSurrogate(**common, collapse_output_layer=collapsed)
        post = sur.fit(X, Y, seed=0).posterior(Xt)
        out[collapsed] = (post.mean.squeeze(-1), post.variance.squeeze(-1))
        assert sur.diagnostics_["collapsed_output_layer"] is collapsed
    (m1, v1), (m0, v0) = out[True], out[False]
    sd = (0.5 * (v1 + v0)).sqrt()
    # seeds 0-2 give at most 0.04 and 0.06; dropping the log-determinant from the
    # collapsed potential gives 0.17-0.19 and 0.16
    assert ((m1 - m0).abs() / sd).max() < 0.1
    assert ((v1 / v0).log().abs()).max() < 0.13
