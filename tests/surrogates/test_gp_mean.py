"""The GP's quadratic prior means (issue 20 round 10) and the held worst-value mean (round 12):
their fit, LogEI's gradient under them, the warm start, and the q = 1 loop with one of them."""

import pytest
import torch

from bnnbo import ConfigError, Optimizer, get_problem, get_surrogate
from bnnbo.exact_logei import ExactGPLogEI
from bnnbo.gp_mean import QuadraticMean
from bnnbo.output_warp import YeoJohnsonStandardize
from bnnbo.surrogates.gaussian.gp import hyperparameters


def bowl_data(sign: float, n: int = 30, d: int = 4, seed: int = 0):
    """Values that fall (sign 1) or rise (sign -1) away from the cube's centre, plus a ripple."""
    g = torch.Generator().manual_seed(seed)
    X = torch.rand(n, d, generator=g, dtype=torch.float64)
    r2 = (X - 0.5).square().sum(-1, keepdim=True)
    return X, -sign * 4.0 * r2 + 0.1 * torch.sin(7.0 * X[:, :1])


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_the_signed_curvature_follows_the_data(sign):
    X, Y = bowl_data(sign)
    model = get_surrogate("gp", mean="quadratic-signed").fit(X, Y, seed=0)
    assert isinstance(model.mean_module, QuadraticMean)
    a = float(model.mean_module.curvature().detach())
    assert a * sign > 0.5  # a bowl where the centre is best, a dome where the bounds are
    # the unsigned mean cannot make a dome: its curvature stays >= 0 and near 0 on the dome
    unsigned = get_surrogate("gp", mean="quadratic").fit(X, Y, seed=0).mean_module.curvature().detach()
    assert float(unsigned) >= 0.0
    if sign < 0:
        assert float(unsigned) < 0.05


def test_the_prediction_far_from_data_is_the_fitted_trend():
    X, Y = bowl_data(1.0, n=40)
    model = get_surrogate("gp", mean="quadratic-signed").fit(X, Y, seed=0)
    with torch.no_grad():
        mean = model.posterior(torch.tensor([[0.5] * 4, [0.0] * 4], dtype=torch.float64)).mean.reshape(-1)
    assert mean[0] > mean[1] + 1.0  # the corner is predicted worse than the centre


@pytest.mark.parametrize("name", ["constant", "worst", "quadratic", "quadratic-signed", "quadratic-linear"])
def test_logei_fused_gradient_matches_autograd(name):
    X, Y = bowl_data(1.0, n=20, d=5)
    model = get_surrogate("gp", mean=name).fit(X, Y, seed=0)
    acq = ExactGPLogEI(model, Y.max())
    assert acq.has_fused_gradient
    x = torch.rand(7, 5, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    value, grad = acq.value_and_grad(x)
    xg = x.clone().requires_grad_(True)
    auto_value = acq(xg.unsqueeze(-2))
    (auto_grad,) = torch.autograd.grad(auto_value.sum(), xg)
    assert torch.allclose(value, auto_value.detach(), atol=1e-10)
    assert torch.allclose(grad, auto_grad, atol=1e-7)
    # and the value is the GP's own posterior, whose mean goes through the mean module
    with torch.no_grad():
        post = model.posterior(x.unsqueeze(-2))
    mean, _ = acq.mean_and_sigma(x)
    assert torch.allclose(mean, post.mean.reshape(-1), atol=1e-8)


def test_the_warm_start_carries_the_mean_parameters():
    X, Y = bowl_data(1.0, n=25)
    s = get_surrogate("gp", mean="quadratic-signed", warm_maxiter=1)
    first = s.fit(X, Y, seed=0, state=None)
    state = s.state_
    assert any("raw_curvature" in k for k in state[0])
    # one warm iteration from the previous optimum on the same data stays there; from the
    # cold start it could not get there
    warm = s.fit(X, Y, seed=0, state=state)
    a = float(first.mean_module.curvature().detach())
    assert float(warm.mean_module.curvature().detach()) == pytest.approx(a, rel=1e-3)
    assert hyperparameters(warm)[0].keys() == state[0].keys()
    assert abs(a - 0.0) > 0.5  # the signed mean's cold start is curvature 0


@pytest.mark.parametrize(
    "settings",
    [
        {"mean": "quadratic", "hyper_samples": 4},
        {"mean": "quadratic-signed", "stall_starts": 2},
        {"mean": "worst", "hyper_samples": 2},
        {"mean": "bowl"},
    ],
)
def test_bad_settings_are_refused(settings):
    with pytest.raises(ConfigError, match="mean"):
        get_surrogate("gp", **settings)


def test_the_loop_keeps_the_constant_mean_unless_asked():
    """Round 10 measured the quadratic means in the q = 1 loop and did not make them the default."""
    box = get_problem("hartmann6").space
    assert Optimizer(box, surrogate="gp", seed=0).surrogate.settings.mean is None
    assert get_surrogate("gp").settings.mean is None


def test_the_loop_runs_with_it_warped_and_proposes_inside_the_cube():
    problem = get_problem("branin")
    opt = Optimizer.for_problem(problem, "gp", seed=0, n_init=6, surrogate_settings={"mean": "quadratic-signed"})
    X = opt.ask(6)
    opt.tell(X, problem.evaluate(X))
    for _ in range(4):
        x = opt.ask()
        opt.tell(x, problem.evaluate(x))
    assert isinstance(opt.last_model.mean_module, QuadraticMean)
    assert isinstance(opt.last_model.outcome_transform, YeoJohnsonStandardize)  # the loop's warp as well
    U = problem.space.to_unit(opt.X)
    assert ((U >= 0) & (U <= 1)).all()
    assert opt.X.shape[0] == 10 and torch.isfinite(opt.Y).all()


@pytest.mark.parametrize("warp", ["none", "yeo-johnson"])
def test_the_worst_mean_is_the_lowest_value_as_the_gp_sees_it_and_is_not_fitted(warp):
    """mean="worst": the constant is the lowest transformed target of each fit's own data (the
    loop maximises), neither fitted nor carried by the warm start."""
    X, Y = bowl_data(1.0, n=25)
    s = get_surrogate("gp", mean="worst", output_warp=warp)
    model = s.fit(X, Y, seed=0)
    assert float(model.mean_module.constant) == float(model.train_targets.min())
    assert not model.mean_module.raw_constant.requires_grad
    assert not any("constant" in k for k in s.state_[0])
    if warp == "none":  # standardised: the lowest value's z-score
        assert float(model.mean_module.constant) == pytest.approx(float((Y.min() - Y.mean()) / Y.std()))
    # a warm fit on more data holds the new data's worst value
    X2, Y2 = torch.cat([X, X[:1] * 0.5]), torch.cat([Y, Y.min(0, keepdim=True).values - 1.0])
    warm = s.fit(X2, Y2, seed=0, state=s.state_)
    assert float(warm.mean_module.constant) == float(warm.train_targets.min())
    # far from the data the prediction falls to it: a far corner looks as bad as the worst point
    if warp == "none":  # (the warp's inverse is not linear: its far mean is not the inverse's)
        with torch.no_grad():
            far = model.posterior(torch.full((1, 4), 100.0, dtype=torch.float64)).mean
        assert float(far) == pytest.approx(float(Y.min()), rel=1e-6)


def test_the_worst_mean_holds_each_objectives_own_worst_value():
    """With several objectives each objective's GP holds the lowest value of that objective."""
    X, Y1 = bowl_data(1.0, n=20)
    Y = torch.cat([Y1, -Y1 + 0.1 * X[:, :1]], dim=-1)  # the objectives' worst points differ
    model = get_surrogate("gp", mean="worst").fit(X, Y, seed=0)
    for gp in model.models:
        assert float(gp.mean_module.constant) == float(gp.train_targets.min())
    assert float(model.models[0].mean_module.constant) != float(model.models[1].mean_module.constant)


@pytest.mark.parametrize(
    "settings, named",
    [
        ({"mean": "worst"}, "mean='worst'"),
        ({"mean": "quadratic", "lengthscale_prior": "hvarfner"}, "mean='quadratic', lengthscale_prior='hvarfner'"),
        ({"hyper_samples": 4}, "hyper_samples=4"),
    ],
)
def test_botorchs_gp_refuses_the_matern_gps_settings(settings, named):
    with pytest.raises(ConfigError, match=f"{named} apply to the Matern GP"):
        get_surrogate("gp", kernel="botorch", **settings)
    get_surrogate("gp", kernel="botorch", mean="constant")  # BoTorch's GP has that mean


def test_a_batch_keeps_the_matern_gp_when_one_of_its_settings_is_asked_for():
    """Batches use BoTorch's GP by default; a setting only the Matern GP has (here a prior mean)
    keeps the Matern GP rather than being dropped without a word."""
    box = get_problem("branin").space
    assert Optimizer(box, surrogate="gp", q=3).surrogate.settings.kernel == "botorch"
    opt = Optimizer(box, surrogate="gp", q=3, n_init=5, surrogate_settings={"mean": "worst"}, seed=0)
    assert opt.surrogate.settings.kernel is None and opt.surrogate.settings.mean == "worst"
    problem = get_problem("branin")
    X = opt.ask(5)
    opt.tell(X, problem.evaluate(X))
    X = opt.ask(3)
    assert X.shape == (3, 2)
    assert float(opt.last_model.mean_module.constant) == float(opt.last_model.train_targets.min())
