"""The GP's Yeo-Johnson output warp: the transform and its inverse, the exponent's fit, the
posterior in original units, LogEI in the warped scale, and where the optimiser uses it."""

import math

import numpy as np
import pytest
import torch
from botorch.acquisition.analytic import _log_ei_helper
from scipy import stats

from bnnbo import ConfigError, Optimizer, get_problem, get_surrogate
from bnnbo.exact_logei import ExactGPLogEI, IntegratedExactGPLogEI, log_ei
from bnnbo.output_warp import (
    LAMBDA_BOUNDS,
    YeoJohnsonStandardize,
    _fit_lambda,
    yeo_johnson,
    yeo_johnson_inverse,
)


@pytest.mark.parametrize("lam", [-1.5, 0.0, 0.5, 1.0, 2.0, 3.0])
def test_the_transform_is_scipys_monotone_and_inverted(lam):
    z = torch.linspace(-4, 6, 201, dtype=torch.float64)
    w = yeo_johnson(z, lam)
    assert torch.allclose(w, torch.as_tensor(stats.yeojohnson(z.numpy(), lmbda=lam)), atol=1e-12)
    assert (w.diff() > 0).all()
    assert torch.allclose(yeo_johnson_inverse(w, lam), z, atol=1e-9)


def test_the_exponent_is_the_bounded_maximum_likelihood_one():
    rng = np.random.default_rng(0)
    skewed = rng.lognormal(size=40)
    assert _fit_lambda(skewed) == pytest.approx(stats.yeojohnson_normmax(skewed), rel=1e-6)
    assert LAMBDA_BOUNDS[0] <= _fit_lambda(-np.exp(np.linspace(0, 12, 30))) <= LAMBDA_BOUNDS[1]
    assert _fit_lambda(np.array([1.0, 1.0, 2.0])) == 1.0  # fewer than three distinct values


def branin_gp(n=20, seed=0, **settings):
    problem = get_problem("branin")
    X = problem.space.sobol(n, seed=seed)
    U = problem.space.to_unit(X)
    Y = problem.evaluate(X)  # maximised: a long tail of bad values
    s = get_surrogate("gp", output_warp="yeo-johnson", **settings)
    return s.fit(U, Y, seed=0), U, Y


def test_a_warped_gp_predicts_in_original_units():
    model, U, Y = branin_gp()
    tf = model.outcome_transform
    assert isinstance(tf, YeoJohnsonStandardize) and tf.lam != 1.0
    post = model.posterior(U)
    assert torch.allclose(post.mean, Y, rtol=1e-3, atol=1e-2 * Y.std())  # nearly interpolates
    Xt = torch.rand(5, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    post = model.posterior(Xt)
    draws = post.rsample(torch.Size([40000]))
    assert torch.allclose(post.mean, draws.mean(0), rtol=0.02, atol=0.02 * Y.std())
    assert torch.allclose(post.variance, draws.var(0), rtol=0.1)
    assert torch.allclose(tf.untransform(tf.post(tf.warp(Y))[0])[0], Y, atol=1e-8)


def test_logei_is_computed_in_the_warped_scale():
    model, U, Y = branin_gp()
    tf = model.outcome_transform
    acq = log_ei(model, Y.max())
    assert type(acq) is ExactGPLogEI
    x = torch.rand(7, 1, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        latent = model(x.squeeze(1))  # standardised warped scale
        mean = tf.post.means.reshape(()) + tf.post.stdvs.reshape(()) * latent.mean
        sd = tf.post.stdvs.reshape(()) * latent.variance.sqrt()
        want = _log_ei_helper((mean - tf.warp(Y.max())) / sd) + sd.log()
        assert torch.allclose(acq(x), want, atol=1e-8)


def test_logei_over_hyperparameter_samples_uses_the_warp_too():
    model, _, Y = branin_gp(hyper_samples=4)
    acq = log_ei(model, Y.max())
    assert type(acq) is IntegratedExactGPLogEI
    tf = model.outcome_transform
    assert acq.best_f.item() == pytest.approx(tf.warp(Y.max()).item())
    assert acq.scale.item() == pytest.approx(tf.post.stdvs.item())


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"output_warp": "log"}, "setting 'output_warp' = 'log'; expected 'none' or 'yeo-johnson' or 'auto' or None"),
        ({"output_warp": "yeo-johnson", "kernel": "botorch"}, "applies to the Matern GP"),
        ({"output_warp": "yeo-johnson", "priors": "paper"}, "applies to the Matern GP"),
    ],
)
def test_bad_settings_are_refused(settings, message):
    with pytest.raises(ConfigError, match=message):
        get_surrogate("gp", **settings)


def loop(problem, q=1, iterations=2, **settings):
    opt = Optimizer.for_problem(problem, "gp", seed=0, n_init=6, q=q, surrogate_settings=settings)
    X = opt.ask(6)
    opt.tell(X, problem.evaluate(X))
    for _ in range(iterations):
        x = opt.ask()
        opt.tell(x, problem.evaluate(x))
    return opt


def test_the_loops_default_warps_at_q_1_with_one_objective_only():
    """Issue 20 round 8: the default is measured in the q = 1 single-objective loop only."""
    from botorch.models.transforms.outcome import Standardize

    assert isinstance(loop(get_problem("branin")).last_model.outcome_transform, YeoJohnsonStandardize)
    assert type(loop(get_problem("branin"), q=3).last_model.outcome_transform) is Standardize
    assert type(loop(get_problem("branin"), output_warp="none").last_model.outcome_transform) is Standardize
    models = loop(get_problem("branincurrin")).last_model.models
    assert all(type(m.outcome_transform) is Standardize for m in models)
    assert get_surrogate("gp").settings.output_warp is None  # get_surrogate alone (e.g. in auto): unwarped
    model, _, _ = branin_gp(n=8)
    assert isinstance(model.outcome_transform, YeoJohnsonStandardize)  # asked for explicitly


def test_auto_warps_once_the_points_outnumber_the_inputs():
    problem = get_problem("ackley", dim=10)
    X = problem.space.sobol(12, seed=0)
    U, Y = problem.space.to_unit(X), problem.evaluate(X)
    s = get_surrogate("gp", output_warp="auto")
    assert type(s.fit(U[:10], Y[:10], seed=0).outcome_transform).__name__ == "Standardize"  # n = d
    assert isinstance(s.fit(U[:11], Y[:11], seed=0).outcome_transform, YeoJohnsonStandardize)  # n > d
    opt = loop(get_problem("poly", dim=8), iterations=1)  # the loop's default: "auto"
    assert opt.surrogate.settings.output_warp == "auto"
    assert type(opt.last_model.outcome_transform).__name__ == "Standardize"  # 6 points, 8 inputs


def test_the_optimiser_warps_one_objective_only():
    opt = loop(get_problem("branin"), output_warp="yeo-johnson")
    assert isinstance(opt.last_model.outcome_transform, YeoJohnsonStandardize)
    assert opt.Y.shape == (8, 1) and torch.isfinite(opt.Y).all()
    # batches with the warp asked for keep the Matern GP and its warp (MC LogNEI through the warp)
    opt = loop(get_problem("branin"), q=3, output_warp="yeo-johnson")
    assert isinstance(opt.last_model.outcome_transform, YeoJohnsonStandardize)
    assert opt.Y.shape == (12, 1) and torch.isfinite(opt.Y).all()
    # several objectives: one GP per objective, none warped (the hypervolume is in original units)
    opt = loop(get_problem("branincurrin"), output_warp="yeo-johnson")
    assert all(not isinstance(m.outcome_transform, YeoJohnsonStandardize) for m in opt.last_model.models)


def test_the_warp_is_fitted_on_the_training_values_and_then_fixed():
    tf = YeoJohnsonStandardize()
    Y = torch.tensor([[-300.0], [-40.0], [-5.0], [-1.0], [-0.5]], dtype=torch.float64)
    W, _ = tf(Y)
    assert W.mean().abs() < 1e-12 and W.std().item() == pytest.approx(1.0)
    lam = tf.lam
    tf.eval()
    tf(torch.tensor([[-1000.0]], dtype=torch.float64))
    assert tf.lam == lam
    assert math.isfinite(tf.untransform(torch.tensor([[50.0]], dtype=torch.float64))[0].item())


def test_a_warped_step_that_repeats_a_point_is_asked_of_the_unwarped_gp(monkeypatch):
    """(On branin seed 31 the warped GP alone re-evaluated one point 24 times: docs/performance.md,
    issue 20 round 8.) Here every candidate counts as a repeat, so the step is unwarped."""
    import bnnbo.optimizer as optimizer
    from bnnbo.optimizer import _repeats

    U = torch.tensor([[0.5, 0.5]], dtype=torch.float64)
    X = torch.tensor([[0.2, 0.2], [0.5, 0.5001], [0.5004, 0.4996], [0.9, 0.9]], dtype=torch.float64)
    assert _repeats(U, X, torch.tensor([[0.0], [3.0], [2.0], [1.0]], dtype=torch.float64))  # probed since the best
    assert not _repeats(U, X, torch.tensor([[0.0], [1.0], [3.0], [2.0]], dtype=torch.float64))  # the best is there
    assert not _repeats(
        torch.tensor([[0.5, 0.502]], dtype=torch.float64), X, torch.tensor([[0.0], [3.0], [2.0], [1.0]])
    )
    problem = get_problem("branin")
    opt = loop(problem, iterations=0, output_warp="yeo-johnson")
    x = opt.ask()
    assert "unwarped_step" not in opt.surrogate.diagnostics_
    assert isinstance(opt.last_model.outcome_transform, YeoJohnsonStandardize)
    opt.tell(x, problem.evaluate(x))
    monkeypatch.setattr(optimizer, "_repeats", lambda U, X, Y: True)
    x = opt.ask()
    assert opt.surrogate.diagnostics_["unwarped_step"] is True
    assert not isinstance(opt.last_model.outcome_transform, YeoJohnsonStandardize)
    opt.tell(x, problem.evaluate(x))
    assert opt.history[-1].diagnostics["unwarped_step"] is True


def test_degenerate_values_fit_and_predict():
    """Two points, equal values, a huge spread: the warp falls back to the identity or stays finite."""
    X = torch.tensor([[0.1, 0.2], [0.8, 0.7], [0.4, 0.9]], dtype=torch.float64)
    for Y in (
        torch.tensor([[1.0], [1.0], [1.0]], dtype=torch.float64),
        torch.tensor([[-1e12], [3.0], [2.0]], dtype=torch.float64),
        torch.tensor([[0.0], [1.0], [0.0]], dtype=torch.float64)[:2],
    ):
        model = get_surrogate("gp", output_warp="yeo-johnson").fit(X[: Y.shape[0]], Y, seed=0)
        post = model.posterior(torch.rand(4, 2, dtype=torch.float64))
        assert torch.isfinite(post.mean).all() and torch.isfinite(post.variance).all()
        acq = log_ei(model, Y.max())
        assert torch.isfinite(acq(torch.rand(3, 1, 2, dtype=torch.float64))).all()


def test_auto_in_the_loop_warps_its_gp_as_gp_alone_is_warped(monkeypatch):
    """An ``auto`` that chooses its GP at every step proposes exactly what the loop's ``gp`` does
    (its GP candidate gets the loop's warp); batches and several objectives leave it unwarped."""
    import bnnbo.optimizer as optimizer
    from bnnbo.surrogates.combined.auto import AutoSurrogate

    problem = get_problem("branin")
    gp = loop(problem, iterations=3)
    auto = Optimizer.for_problem(problem, "auto", seed=0, n_init=6)
    assert auto.surrogate.settings.candidate_settings == {"gp": {"output_warp": "auto"}}
    monkeypatch.setattr(AutoSurrogate, "_make", _gp_scores_best(AutoSurrogate._make))
    auto = Optimizer.for_problem(problem, "auto", seed=0, n_init=6)
    X = auto.ask(6)
    auto.tell(X, problem.evaluate(X))
    for _ in range(3):
        x = auto.ask()
        assert auto.surrogate.diagnostics_["choice"] == "gp"
        auto.tell(x, problem.evaluate(x))
    assert isinstance(auto.last_model.outcome_transform, YeoJohnsonStandardize)
    assert torch.equal(auto.X, gp.X)
    # the unwarped step of an auto that served its warped GP refits that GP unwarped
    monkeypatch.setattr(optimizer, "_repeats", lambda U, X, Y: True)
    auto.ask()
    assert auto.surrogate.diagnostics_["unwarped_step"] is True
    assert not isinstance(auto.last_model.outcome_transform, YeoJohnsonStandardize)
    # a user's own setting for the candidate is kept; batches and several objectives: unwarped
    own = Optimizer(
        problem.space, surrogate="auto", surrogate_settings={"candidate_settings": {"gp": {"output_warp": "none"}}}
    )
    assert own.surrogate.settings.candidate_settings == {"gp": {"output_warp": "none"}}
    assert Optimizer(problem.space, surrogate="auto", q=2).surrogate.settings.candidate_settings == {}
    assert Optimizer(problem.space, 2, surrogate="auto").surrogate.settings.candidate_settings == {}


def _gp_scores_best(make):
    """``AutoSurrogate._make`` whose non-GP candidates predict badly (auto then always chooses gp)."""

    def wrapped(self, label):
        member = make(self, label)
        if label != "gp":
            fit = member._fit

            def bad_fit(X, Y, *, seed, state):
                model = fit(X, Y, seed=seed, state=state)
                model.posterior = lambda X, *a, **k: (_ for _ in ()).throw(RuntimeError("no prediction"))
                return model

            member._fit = bad_fit
        return member

    return wrapped
