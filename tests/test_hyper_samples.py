"""The GP setting ``hyper_samples``: LogEI integrated over posterior samples of the q = 1 GP's
hyperparameters (issue 20, round 6; docs/performance.md)."""

import copy
import math

import pytest
import torch
from gpytorch.mlls import ExactMarginalLogLikelihood

from bnnbo import ConfigError, Optimizer, get_problem, get_surrogate
from bnnbo.exact_logei import ExactGPLogEI, IntegratedExactGPLogEI, log_ei
from bnnbo.statefile import decode, encode
from bnnbo.surrogates.gaussian.gp import MaternPosterior, slice_sweep
from bnnbo.testing.conformance import toy_data


def _fit(S=6, seed=0, state=None, **kwargs):
    X, Y = toy_data(n=15, d=3)
    Y = 50 * Y + 3  # the outcome transform must be undone
    sur = get_surrogate("gp", hyper_samples=S, **kwargs)
    return sur, sur.fit(X, Y, seed=seed, state=state), X, Y


def _with(model, sample: dict, i: int):
    """A copy of ``model`` carrying the ``i``-th sample's hyperparameters."""
    m = copy.deepcopy(model)
    del m.hyper_samples
    with torch.no_grad():
        m.covar_module.base_kernel.lengthscale = sample["lengthscale"][i].reshape(1, -1)
        m.covar_module.outputscale = sample["outputscale"][i]
        m.likelihood.noise = sample["noise"][i]
        m.mean_module.constant.copy_(sample["constant"][i])
    return m


def test_settings_errors():
    with pytest.raises(ConfigError, match="hyper_samples"):
        get_surrogate("gp", hyper_samples=0)
    with pytest.raises(ConfigError, match="hyper_samples"):
        get_surrogate("gp", priors="paper", hyper_samples=4)


def test_one_sample_is_todays_acquisition():
    X, Y = toy_data(n=15)
    model = get_surrogate("gp").fit(X, Y, seed=0)
    assert not hasattr(model, "hyper_samples")  # the default keeps the MAP fit alone
    assert type(log_ei(model, Y.max())) is ExactGPLogEI
    base = ExactGPLogEI(model, Y.max())
    k = model.covar_module
    at_map = {
        "lengthscale": k.base_kernel.lengthscale.detach().reshape(1, -1),
        "outputscale": k.outputscale.detach().reshape(1),
        "noise": model.likelihood.noise.detach().reshape(1),
        "constant": model.mean_module.constant.detach().reshape(1),
    }
    one = IntegratedExactGPLogEI(model, Y.max(), at_map)
    x = torch.rand(32, X.shape[-1], generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    x = torch.cat([x, X[:3]])
    v0, g0 = base.value_and_grad(x)
    v1, g1 = one.value_and_grad(x)
    assert torch.allclose(v0, v1, atol=1e-10, rtol=1e-10)
    assert torch.allclose(g0, g1, atol=1e-9, rtol=1e-8)


def test_integrated_logei_is_the_log_mean_of_each_samples_ei_with_its_gradient():
    _, model, X, Y = _fit()
    acq = log_ei(model, Y.max())
    assert isinstance(acq, IntegratedExactGPLogEI)
    s = model.hyper_samples
    assert s["lengthscale"].shape == (6, 3) and s["noise"].shape == (6,)
    x = torch.rand(20, 3, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    each = torch.stack([ExactGPLogEI(_with(model, s, i), Y.max()).value_and_grad(x)[0] for i in range(6)])
    expected = torch.logsumexp(each, 0) - math.log(6)
    value, grad = acq.value_and_grad(x)
    assert torch.allclose(value, expected, atol=1e-9, rtol=1e-9)
    assert torch.allclose(acq(x.unsqueeze(-2)), value, atol=1e-12)
    xa = x.clone().requires_grad_(True)
    (auto,) = torch.autograd.grad(acq(xa.unsqueeze(-2)).sum(), xa)
    assert torch.allclose(grad, auto, atol=1e-8, rtol=1e-6)
    h = 1e-6  # central differences, one coordinate at a time
    for j in range(3):
        e = torch.zeros(3, dtype=torch.float64)
        e[j] = h
        fd = (acq.value_and_grad(x + e)[0] - acq.value_and_grad(x - e)[0]) / (2 * h)
        assert torch.allclose(grad[:, j], fd, atol=1e-5, rtol=1e-4)


def test_samples_are_seeded_and_chains_continue_from_the_state():
    sur_a, a, *_ = _fit(seed=3)
    _, b, *_ = _fit(seed=3)
    _, c, *_ = _fit(seed=4)
    assert torch.equal(a.hyper_samples["lengthscale"], b.hyper_samples["lengthscale"])
    assert not torch.equal(a.hyper_samples["lengthscale"], c.hyper_samples["lengthscale"])
    state = decode(encode(sur_a.state_))  # what the store keeps between asks
    chains = state["chains"]
    sur_d, d, *_ = _fit(seed=5, state=state)
    _, fresh, *_ = _fit(seed=5)
    # one sweep on from the stored chains, not a new burn-in from the MAP
    assert not torch.equal(sur_d.state_["chains"], chains)
    assert not torch.equal(d.hyper_samples["lengthscale"], fresh.hyper_samples["lengthscale"])
    assert isinstance(sur_d.state_["hyper"], list)  # the MAP fit's warm start travels too


@pytest.mark.parametrize("jacobian", [False, True])
def test_log_posterior_is_gpytorchs_marginal_likelihood_plus_priors(jacobian):
    _, model, *_ = _fit(S=2)
    post = MaternPosterior(model, jacobian=jacobian)
    p = post.theta_map.numel()
    t = torch.stack([post.theta_map, post.theta_map + torch.linspace(-0.3, 0.3, p)])
    ours = post(t)

    def reference(theta):
        m = copy.deepcopy(model)
        del m.hyper_samples
        ls, scale, noise, c = post.unpack(theta.reshape(1, -1))
        with torch.no_grad():
            m.covar_module.base_kernel.lengthscale = ls
            m.covar_module.outputscale = scale[0]
            m.likelihood.noise = noise[0]
            m.mean_module.constant.copy_(c[0])
        m.train()
        mll = ExactMarginalLogLikelihood(m.likelihood, m)
        with torch.no_grad():  # gpytorch's mll is per point and includes the registered priors
            value = mll(m(*m.train_inputs), m.train_targets) * post.n
        return value + (theta[: post.d + 2].sum() if jacobian else 0.0)  # log ls, log scale, log noise

    ref = torch.stack([reference(t[0]), reference(t[1])])
    # equal up to a constant (gpytorch adds the normalising 2 pi term)
    assert (ours[1] - ours[0]).item() == pytest.approx((ref[1] - ref[0]).item(), rel=1e-6, abs=1e-6)
    outside = post.theta_map.clone()
    outside[0] = 8.0  # beyond the fit's box
    assert post(outside.reshape(1, -1)).item() == -math.inf
    if not jacobian:  # the density's mode is the MAP fit (a cold fit, converged to gtol 1e-2)
        h = 1e-5
        e = torch.eye(p, dtype=torch.float64) * h
        grad = (post(post.theta_map + e) - post(post.theta_map - e)) / (2 * h)
        assert grad.abs().max().item() < 0.05


def test_slice_sweeps_sample_the_target_distribution():
    class Gaussian:  # N((1, -2), diag(0.25, 1)) in a box wide enough not to matter
        low = torch.tensor([-20.0, -20.0], dtype=torch.float64)
        high = torch.tensor([20.0, 20.0], dtype=torch.float64)
        mu = torch.tensor([1.0, -2.0], dtype=torch.float64)
        sd = torch.tensor([0.5, 1.0], dtype=torch.float64)

        def __call__(self, t):
            return -0.5 * ((t - self.mu) / self.sd).square().sum(-1)

    g = torch.Generator().manual_seed(0)
    t = torch.zeros(64, 2, dtype=torch.float64)
    draws = []
    for k in range(150):
        t = slice_sweep(Gaussian(), t, g)
        if k >= 20:
            draws.append(t)
    d = torch.cat(draws)
    assert torch.allclose(d.mean(0), Gaussian.mu, atol=0.15)
    assert torch.allclose(d.std(0), Gaussian.sd, rtol=0.1)


def test_loop_with_hyper_samples_is_reproducible_and_resumes_identically():
    p = get_problem("branin")

    def loop(n_iter):
        opt = Optimizer(p.space, seed=2, n_init=5, surrogate_settings={"hyper_samples": 4})
        for _ in range(5 + n_iter):
            X = opt.ask()
            opt.tell(X, p.evaluate(X))
        return opt

    a, b = loop(3), loop(3)
    assert torch.equal(a.X, b.X)
    assert isinstance(a.surrogate_state, dict) and a.surrogate_state["chains"].shape[0] == 4
    part = loop(2)
    resumed = Optimizer(p.space, seed=2, n_init=5, surrogate_settings={"hyper_samples": 4})
    resumed.restore(part.history, part.surrogate_state)
    assert torch.equal(resumed.ask(), a.X[-1:])


def test_stall_starts_keep_the_best_posterior_fit_and_only_when_stalled():
    """Idea B of issue 20's round 6: cold multi-start refits once the incumbent is old."""
    from bnnbo.surrogates.gaussian.gp import MaternPosterior

    def objective(model):
        post = MaternPosterior(model)
        return float(post(post.theta_map.unsqueeze(0)))

    def ls(model):
        return model.covar_module.base_kernel.lengthscale.detach()

    X, Y = toy_data(n=20, d=3, seed=4)
    order = torch.argsort(Y[:, 0], descending=True)
    stalled = (X[order], Y[order])  # the best observation first: 19 evaluations old
    fresh = (X[order.flip(0)], Y[order.flip(0)])  # the best observation last
    plain = get_surrogate("gp").fit(*stalled, seed=1)
    multi = get_surrogate("gp", stall_starts=4).fit(*stalled, seed=1)
    again = get_surrogate("gp", stall_starts=4).fit(*stalled, seed=1)
    assert objective(multi) >= objective(plain) - 1e-9
    assert torch.equal(ls(multi), ls(again))
    assert torch.equal(
        ls(get_surrogate("gp", stall_starts=4).fit(*fresh, seed=1)), ls(get_surrogate("gp").fit(*fresh, seed=1))
    )
    with pytest.raises(ConfigError, match="stall_starts"):
        get_surrogate("gp", stall_starts=-1)
    with pytest.raises(ConfigError, match="stall_starts"):
        get_surrogate("gp", priors="paper", stall_starts=2)


@pytest.mark.parametrize("loop", [{"q": 2}, {"num_objectives": 2}, {"acquisition": "mc"}])
def test_hyperparameter_samples_are_refused_where_no_acquisition_uses_them(loop):
    box = get_problem("branin").space
    with pytest.raises(ConfigError, match="hyper_samples=4 integrates the analytic LogEI"):
        Optimizer(box, surrogate="gp", surrogate_settings={"hyper_samples": 4}, **loop)
    # auto's GP candidates draw them too when they serve
    with pytest.raises(ConfigError, match="hyper_samples=4 integrates the analytic LogEI"):
        Optimizer(
            box, surrogate="auto", surrogate_settings={"candidate_settings": {"gp": {"hyper_samples": 4}}}, **loop
        )
    Optimizer(box, surrogate="gp", surrogate_settings={"hyper_samples": 4})  # q = 1, one objective


def test_hyperparameter_samples_are_refused_for_a_batch_asked_of_a_q1_optimizer():
    box = get_problem("branin").space
    opt = Optimizer(box, surrogate="gp", surrogate_settings={"hyper_samples": 4}, n_init=3, seed=0)
    X = opt.ask(3)
    opt.tell(X, get_problem("branin").evaluate(X))
    with pytest.raises(ConfigError, match="hyper_samples=4 integrates the analytic LogEI of one objective at q = 1"):
        opt.ask(2)
    assert opt.n_told == 3 and opt.ask(1).shape == (1, 2)  # nothing changed: q = 1 still asks
