"""The default (non-paper) loop's options: the GP's noise model, warm starts, the q = 1 acquisition."""

import math

import pytest
import torch
from botorch.acquisition import LogExpectedImprovement, qLogNoisyExpectedImprovement
from botorch.acquisition.multi_objective.logei import qLogNoisyExpectedHypervolumeImprovement

from bnnbo import ConfigError, Optimizer, get_problem, get_surrogate
from bnnbo.acquisition import OPTIMIZER_PRESETS, build_acquisition
from bnnbo.surrogates.gaussian.gp import DEFAULT_NOISE
from bnnbo.testing.conformance import toy_data


def _noise(model) -> float:
    return model.likelihood.noise.item()


def test_fixed_noise_is_what_was_asked():
    X, Y = toy_data(n=15)
    model = get_surrogate("gp", noise="fixed", fixed_noise=1e-5).fit(X, Y)
    assert _noise(model) == pytest.approx(1e-5, rel=1e-6)


def test_low_noise_interpolates_deterministic_data_and_learned_does_not():
    X = torch.rand(20, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    Y = torch.sin(6 * X[:, :1]) + X[:, 1:] ** 2  # noiseless
    low = get_surrogate("gp", noise="low").fit(X, Y, seed=0)
    learned = get_surrogate("gp", noise="learned").fit(X, Y, seed=0)
    assert _noise(learned) >= 1e-4  # BoTorch's floor
    assert _noise(low) < 1e-4


def test_default_noise_is_the_documented_one():
    X, Y = toy_data(n=15)
    model = get_surrogate("gp").fit(X, Y)
    explicit = get_surrogate("gp", noise=DEFAULT_NOISE).fit(X, Y)
    assert _noise(model) == pytest.approx(_noise(explicit))


@pytest.mark.parametrize(
    "kwargs, msg",
    [
        ({"priors": "paper", "noise": "low"}, "apply to priors='modern'"),
        ({"priors": "paper", "warm_start": True}, "apply to priors='modern'"),
        ({"noise": "tiny"}, r"'noise' = 'tiny'; expected 'learned' or 'low' or 'fixed' or None"),
        ({"priors": "paper", "kernel": "matern"}, "kernel='matern' applies to priors='modern'"),
        ({"kernel": "rbf"}, r"'kernel' = 'rbf'; expected 'matern' or 'botorch' or None"),
        ({"fixed_noise": 0.0}, r"fixed_noise must be in \(0, 1\)"),
        ({"priors": "paper", "mean": "zero"}, "apply to priors='modern'"),
        ({"priors": "paper", "warm_ftol": 0.1}, "warm_ftol=0.1 apply to priors='modern'"),
        (
            {"mean": "linear"},
            r"'mean' = 'linear'; expected 'constant' or 'zero' or 'worst' or 'quadratic' or 'quadratic-signed' or 'quadratic-linear' or None",
        ),
        ({"lengthscale_prior": "gamma"}, r"expected 'lognormal' or 'inverse-square' or 'sqrt-d6'"),
        ({"initial_noise": 0.0}, r"initial_noise must be in \(1e-06, 10\]"),
        ({"initial_noise": 1e-7}, r"initial_noise must be in \(1e-06, 10\] .* got 1e-07"),
        ({"noise": "fixed", "initial_noise": 0.5}, "initial_noise=0.5 is where noise='low' starts; got noise='fixed'"),
        ({"noise": "learned", "initial_noise": 0.5}, "initial_noise=0.5 is where noise='low' starts"),
        (
            {"noise": "low", "fixed_noise": 0.5},
            "fixed_noise=0.5 is the noise that noise='fixed' holds; got noise='low'",
        ),
        ({"fixed_noise": 0.5}, "fixed_noise=0.5 is the noise that noise='fixed' holds; got noise=None"),
    ],
)
def test_gp_noise_settings_errors(kwargs, msg):
    with pytest.raises(ConfigError, match=msg):
        get_surrogate("gp", **kwargs)


@pytest.mark.parametrize(
    "kernel, key", [("matern", "covar_module.base_kernel.raw_lengthscale"), ("botorch", "covar_module.raw_lengthscale")]
)
def test_warm_start_starts_from_the_previous_hyperparameters(kernel, key):
    X, Y = toy_data(n=15)
    s = get_surrogate("gp", kernel=kernel)
    s.fit(X, Y, seed=0)
    state = s.state_
    assert isinstance(state, list) and key in state[0]
    # a warm start from a fit on the same data ends where that fit ended
    again = s.fit(X, Y, seed=1, state=state)
    assert torch.allclose(dict(again.named_parameters())[key], state[0][key], atol=1e-2)
    assert get_surrogate("gp", warm_start=False, kernel=kernel).fit(X, Y) is not None
    cold = get_surrogate("gp", warm_start=False, kernel=kernel)
    cold.fit(X, Y)
    assert cold.state_ is None


def test_paper_gp_keeps_no_state():
    X, Y = toy_data(n=15)
    s = get_surrogate("gp", priors="paper")
    s.fit(X, Y)
    assert s.state_ is None


def test_q1_default_uses_analytic_logei_and_batches_stay_mc():
    X, Y = toy_data(n=12)
    model = get_surrogate("gp").fit(X, Y)
    kw = {"ref_point": None, "seed": 0}
    from bnnbo.exact_logei import ExactGPLogEI

    assert isinstance(build_acquisition(model, X, Y, mode="default", q=1, **kw), ExactGPLogEI)
    assert isinstance(build_acquisition(model, X, Y, mode="default", q=3, **kw), qLogNoisyExpectedImprovement)
    assert isinstance(build_acquisition(model, X, Y, mode="mc", q=1, **kw), qLogNoisyExpectedImprovement)
    assert isinstance(build_acquisition(model, X, Y, mode="default", **kw), qLogNoisyExpectedImprovement)
    Y2 = torch.cat([Y, -Y], dim=-1)
    model2 = get_surrogate("gp").fit(X, Y2)
    acq = build_acquisition(model2, X, Y2, mode="default", q=1, ref_point=Y2.min(0).values, seed=0)
    assert isinstance(acq, qLogNoisyExpectedHypervolumeImprovement)  # analytic only for the default GP


def test_optimizer_picks_the_analytic_preset_for_q1_only():
    p = get_problem("branin")
    assert Optimizer(p.space, q=1).preset == OPTIMIZER_PRESETS["analytic"]
    assert Optimizer(p.space, q=4).preset == OPTIMIZER_PRESETS["default"]
    assert Optimizer(p.space, q=1, acquisition="mc").preset == OPTIMIZER_PRESETS["default"]
    assert Optimizer(p.space, q=1, acquisition="paper").preset == OPTIMIZER_PRESETS["paper"]


def _loop(seed: int, steps: int, opt=None):
    p = get_problem("branin")
    opt = opt or Optimizer(p.space, seed=seed, n_init=5)
    for _ in range(steps):
        X = opt.ask()
        opt.tell(X, p.evaluate(X))
    return opt


def test_warm_started_loop_is_reproducible_and_resumes_identically():
    a, b = _loop(7, 8), _loop(7, 8)
    assert torch.equal(a.X, b.X)
    assert isinstance(a.surrogate_state, list)  # the warm start travelled between asks
    # rebuilt from the first 7 evaluations and the state saved with them, the 8th ask agrees
    part = _loop(7, 7)
    resumed = Optimizer(part.space, seed=7, n_init=5)
    resumed.restore(part.history, part.surrogate_state)
    assert torch.equal(resumed.ask(), a.X[-1:])


@pytest.mark.parametrize("kernel", ["matern", "botorch"])
def test_plain_algebra_logei_equals_botorchs(kernel):
    from bnnbo.exact_logei import ExactGPLogEI

    X, Y = toy_data(n=15)
    Y = 50 * Y + 3  # the outcome transform must be undone
    model = get_surrogate("gp", kernel=kernel).fit(X, Y)
    ours = ExactGPLogEI(model, Y.max())
    assert ours.has_fused_gradient
    ref = LogExpectedImprovement(model, best_f=Y.max())
    x = torch.rand(64, 1, X.shape[-1], generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    x = torch.cat([x, X[:4].unsqueeze(-2)])  # at training points too (small variance)
    assert torch.allclose(ours(x), ref(x), atol=1e-6, rtol=1e-6)
    xg = x[:5].clone().requires_grad_(True)
    ours(xg).sum().backward()
    xr = x[:5].clone().requires_grad_(True)
    ref(xr).sum().backward()
    assert torch.allclose(xg.grad, xr.grad, atol=1e-6, rtol=1e-5)
    # the hand-written gradient the optimiser uses equals autograd's
    value, grad = ours.value_and_grad(x[:64, 0])
    assert torch.allclose(value, ref(x[:64]), atol=1e-6, rtol=1e-6)
    xa = x[:64, 0].clone().requires_grad_(True)
    (auto,) = torch.autograd.grad(ours(xa.unsqueeze(-2)).sum(), xa)
    assert torch.allclose(grad, auto, atol=1e-8, rtol=1e-6)


def test_log_h_equals_botorchs_helper_from_the_far_tail_up():
    from botorch.acquisition.analytic import _log_ei_helper

    from bnnbo.exact_logei import log_h

    u = torch.cat([-torch.logspace(4, 0, 300), torch.linspace(-1, 30, 300), torch.tensor([-1 - 1e-12])])
    u = u.double().requires_grad_(True)
    ours, ref = log_h(u), _log_ei_helper(u)
    assert torch.allclose(ours, ref, rtol=1e-12, atol=1e-12)
    (g_ours,) = torch.autograd.grad(ours.sum(), u)
    (g_ref,) = torch.autograd.grad(ref.sum(), u)
    assert torch.isfinite(g_ours).all() and torch.allclose(g_ours, g_ref, rtol=1e-6, atol=1e-10)


def test_matern_map_fit_matches_gpytorchs_posterior_and_optimum():
    """The plain-algebra objective is gpytorch's marginal likelihood plus the registered priors:
    at the optimum it found, gpytorch's own gradient is ~0."""
    from gpytorch.mlls import ExactMarginalLogLikelihood

    X, Y = toy_data(n=20)
    model = get_surrogate("gp").fit(X, Y, seed=0)
    assert _noise(model) < 1e-2  # low noise: Gamma(1.1, 30)
    model.train()
    mll = ExactMarginalLogLikelihood(model.likelihood, model)
    loss = -mll(model(*model.train_inputs), model.train_targets)  # includes the priors, / n
    params = [p for p in model.parameters() if p.requires_grad]
    grads = torch.autograd.grad(loss, params)
    assert max(g.abs().max().item() for g in grads) < 5e-3


def test_incumbent_start_never_proposes_worse_than_the_incumbent():
    from bnnbo.acquisition import optimize_acquisition

    X, Y = toy_data(n=12, d=2)
    model = get_surrogate("gp").fit(X, Y)
    acq = build_acquisition(model, X, Y, mode="default", ref_point=None, seed=0, q=1)
    space = get_problem("branin").space  # 2-D continuous
    best = X[Y[:, 0].argmax()]
    x = optimize_acquisition(acq, space, 1, OPTIMIZER_PRESETS["analytic"], "proper", incumbent=best)
    assert x.shape == (1, X.shape[-1]) and ((0 <= x) & (x <= 1)).all()
    with torch.no_grad():
        assert acq(x.unsqueeze(0)) >= acq(best.reshape(1, 1, -1))


class _TwoBumps(torch.nn.Module):
    """log of a tall bump at (0.8, 0.8) plus a bump e^-2 as tall at (0.2, 0.2)."""

    def forward(self, X):
        x = X.reshape(X.shape[0], -1)
        far = -((x - 0.8) ** 2).sum(-1) / 0.01
        near = -2.0 - ((x - 0.2) ** 2).sum(-1) / 0.01
        return torch.logaddexp(far, near)


@pytest.mark.parametrize("margin, where", [(None, 0.8), (1.0, 0.8), (3.0, 0.2)])
def test_incumbent_margin_proposes_the_incumbents_restart_within_the_margin(margin, where):
    import dataclasses

    from bnnbo.acquisition import optimize_acquisition

    preset = dataclasses.replace(OPTIMIZER_PRESETS["analytic"], incumbent_margin=margin)
    torch.manual_seed(0)
    incumbent = torch.tensor([0.25, 0.15], dtype=torch.float64)
    x = optimize_acquisition(_TwoBumps(), get_problem("branin").space, 1, preset, "proper", incumbent=incumbent)
    torch.testing.assert_close(x, torch.full((1, 2), where, dtype=torch.float64), atol=1e-3, rtol=0)


def test_incumbent_when_is_checked():
    import dataclasses

    from bnnbo import UnknownNameError

    with pytest.raises(UnknownNameError, match=r"unknown incumbent_when 'often'; expected one of: always, improved"):
        dataclasses.replace(OPTIMIZER_PRESETS["analytic"], incumbent_when="often")


def test_incumbent_margin_when_improved_applies_only_after_a_new_best(monkeypatch):
    import dataclasses

    import bnnbo.optimizer as optimizer_module

    seen = []
    real = optimizer_module.optimize_acquisition

    def spy(acq, space, q, preset, rounding, incumbent=None):
        seen.append(preset.incumbent_margin)
        return real(acq, space, q, preset, rounding, incumbent=incumbent)

    monkeypatch.setattr(optimizer_module, "optimize_acquisition", spy)
    preset = dataclasses.replace(OPTIMIZER_PRESETS["analytic"], incumbent_margin=2.0, incumbent_when="improved")
    problem = get_problem("branin")
    for surrogate, per_ask in (("gp", 1), ("auto", 2)):  # auto's hedge: each candidate's search
        seen.clear()
        settings = {"combine": "hedge"} if surrogate == "auto" else None
        opt = Optimizer(
            problem.space,
            surrogate=surrogate,
            n_init=6,
            maximize=False,
            acq_optimizer=preset,
            surrogate_settings=settings,
        )
        X = opt.ask(6)
        opt.tell(X, problem.evaluate(X))
        improved = []
        for _ in range(6):
            x = opt.ask()
            # a model-based point told last that is below every earlier value (minimised here)
            improved.append(not opt.history[-1].initial and bool(opt.Y[-1, 0] < opt.Y[:-1, 0].min()))
            opt.tell(x, problem.evaluate(x))
        assert improved[0] is False  # after the initial design: never "improved"
        assert seen == [m for i in improved for m in [2.0 if i else None] * per_ask], surrogate
        assert len(set(seen)) == 2, surrogate


def test_incumbent_margin_is_refused_where_it_cannot_apply():
    import dataclasses

    with pytest.raises(ConfigError, match="incumbent_margin needs start_at_incumbent=True"):
        dataclasses.replace(OPTIMIZER_PRESETS["default"], incumbent_margin=1.0)
    preset = dataclasses.replace(OPTIMIZER_PRESETS["analytic"], incumbent_margin=1.0)
    with pytest.raises(ConfigError, match="acquisition='paper' \\(qEI / qEHVI\\) is not in log scale"):
        Optimizer(get_problem("branin").space, acquisition="paper", acq_optimizer=preset)


def test_gp_warm_starts_by_default_only_in_the_q1_loops():
    space = get_problem("branin").space
    assert Optimizer(space, q=1).surrogate.settings.warm_start is None  # on
    assert Optimizer(space, q=4).surrogate.settings.warm_start is False
    assert Optimizer(space, num_objectives=2, q=1).surrogate.settings.warm_start is None  # on
    assert Optimizer(space, num_objectives=2, q=4).surrogate.settings.warm_start is False
    assert Optimizer(space, q=1, acquisition="mc").surrogate.settings.warm_start is False
    assert Optimizer(space, q=4, surrogate_settings={"warm_start": True}).surrogate.settings.warm_start is True
    assert Optimizer(space, q=4, surrogate_settings={"priors": "paper"}).surrogate.settings.warm_start is None


@pytest.mark.parametrize("problem, q", [("branin", 2), ("branincurrin", 2)])
def test_batch_defaults_are_the_previous_ones(problem, q):
    from bnnbo import optimize

    now = optimize(problem, budget=10, seed=0, n_init=6, q=q)  # the second model-based ask could warm-start
    before = optimize(
        problem,
        budget=10,
        seed=0,
        n_init=6,
        q=q,
        surrogate_settings={"noise": "learned", "warm_start": False, "kernel": "botorch"},
    )
    assert torch.equal(now.X, before.X)


def test_multi_objective_batches_are_optimised_greedily():
    # a joint q-batch of qLogNEHVI sums over 2^q - 1 subsets: q = 10 took > 30 min per step
    p = get_problem("branincurrin")
    assert Optimizer(p.space, q=4, num_objectives=2).preset == OPTIMIZER_PRESETS["sequential"]
    assert Optimizer(p.space, q=1, num_objectives=2).preset == OPTIMIZER_PRESETS["analytic"]
    assert Optimizer(p.space, q=4, num_objectives=2, acquisition="paper").preset == OPTIMIZER_PRESETS["paper"]
    opt = Optimizer(p.space, q=6, num_objectives=2, n_init=6, seed=0)
    X = opt.ask()
    opt.tell(X, p.evaluate(X))
    X = opt.ask()
    assert X.shape == (6, 2) and torch.unique(X, dim=0).shape[0] == 6
    opt.tell(X, p.evaluate(X))


def test_matern_fit_and_fused_logei_with_a_zero_mean():
    """GPSampler's zero prior mean was tried as an alternative to BoTorch's constant mean
    (docs/performance.md); the plain fit and the fused LogEI handle it."""
    from botorch.models import SingleTaskGP
    from botorch.models.transforms.outcome import Standardize
    from gpytorch.means import ZeroMean

    from bnnbo.exact_logei import ExactGPLogEI
    from bnnbo.surrogates.gaussian.gp import fit_matern_map, low_noise_likelihood, matern_kernel

    X, Y = toy_data(n=15)
    gp = SingleTaskGP(
        X,
        Y,
        covar_module=matern_kernel(3),
        likelihood=low_noise_likelihood(),
        mean_module=ZeroMean(),
        outcome_transform=Standardize(m=1),
    )
    assert fit_matern_map(gp)
    gp.eval()
    ours, ref = ExactGPLogEI(gp, Y.max()), LogExpectedImprovement(gp, best_f=Y.max())
    x = torch.rand(16, 1, 3, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    assert ours.has_fused_gradient
    assert torch.allclose(ours.value_and_grad(x[:, 0])[0], ref(x), atol=1e-6, rtol=1e-6)


def test_gpsamplers_gp_parts_as_settings():
    """The parts of Optuna's GPSampler's GP compared with the default (docs/performance.md):
    a zero prior mean, its lengthscale prior and its cold start at noise 1; the plain fit
    optimises gpytorch's own marginal likelihood plus that prior."""
    from gpytorch.means import ZeroMean
    from gpytorch.mlls import ExactMarginalLogLikelihood

    from bnnbo.surrogates.gaussian.gp import InverseSquaredLengthscalePrior, low_noise_likelihood

    ls = torch.tensor([0.5, 1.0, 3.0], dtype=torch.float64)
    t = ls.pow(-2)
    assert torch.allclose(InverseSquaredLengthscalePrior().log_prob(ls), -(0.1 / t + 0.1 * t))
    assert low_noise_likelihood(1.0).noise.item() == pytest.approx(1.0)
    X, Y = toy_data(n=20)
    model = get_surrogate("gp", mean="zero", lengthscale_prior="inverse-square", initial_noise=1.0).fit(X, Y, seed=0)
    assert isinstance(model.mean_module, ZeroMean)
    assert isinstance(model.covar_module.base_kernel.lengthscale_prior, InverseSquaredLengthscalePrior)
    model.train()
    mll = ExactMarginalLogLikelihood(model.likelihood, model)
    loss = -mll(model(*model.train_inputs), model.train_targets)
    grads = torch.autograd.grad(loss, [p for p in model.parameters() if p.requires_grad])
    assert max(g.abs().max().item() for g in grads) < 5e-3


def test_exploration_fallback_replaces_a_negligible_logei_point():
    import dataclasses

    from bnnbo.errors import UnknownNameError

    p = get_problem("branin")

    def first_ask(**explore):
        preset = dataclasses.replace(OPTIMIZER_PRESETS["analytic"], **explore)
        opt = Optimizer(p.space, seed=3, n_init=6, acq_optimizer=preset)
        X = opt.ask(6)
        opt.tell(X, p.evaluate(X))
        return opt.ask()

    plain = first_ask()
    assert torch.equal(first_ask(explore_below=-1e9), plain)  # never negligible: LogEI's point
    for kind in ("ucb", "thompson"):  # always negligible: the exploring criterion's point
        x = first_ask(explore_below=1e9, explore=kind)
        assert x.shape == plain.shape and not torch.equal(x, plain)
    with pytest.raises(UnknownNameError, match="exploration criterion 'ei'"):
        dataclasses.replace(OPTIMIZER_PRESETS["analytic"], explore="ei")


def test_warm_ftol_stops_a_warm_fit_early():
    X, Y = toy_data(n=16, d=3)
    first = get_surrogate("gp")
    first.fit(X[:8], Y[:8], seed=0)  # a start far from the optimum on all 16 points
    key = "covar_module.base_kernel.raw_lengthscale"

    def warm(**settings):
        s = get_surrogate("gp", warm_maxiter=50, **settings)
        return dict(s.fit(X, Y, seed=0, state=first.state_).named_parameters())[key].detach()

    loose, tight = warm(warm_ftol=0.5), warm()
    assert not torch.allclose(loose, tight, atol=1e-3)
    with pytest.raises(ConfigError, match="warm_ftol must be in"):
        get_surrogate("gp", warm_ftol=2.0)


@pytest.mark.parametrize("d", [1, 2, 6, 7, 10, 25, 200])
def test_default_lengthscale_prior_is_todays_up_to_six_inputs_and_grows_like_sqrt_d_above(d):
    """The q = 1 default GP's lengthscale prior (issue 20, round 5 in docs/performance.md):
    LogNormal(1 + log(max(1, d / 6)) / 2, 1), i.e. mode max(1, sqrt(d / 6)); a cold fit starts
    at the mode. Up to 6 inputs it is LogNormal(1, 1), the prior rounds 2-4 measured."""
    from gpytorch.priors import LogNormalPrior

    X = torch.rand(8, d, generator=torch.Generator().manual_seed(d), dtype=torch.float64)
    Y = X.sum(-1, keepdim=True).sin()
    gp = get_surrogate("gp").fit(X, Y, seed=0)
    prior = gp.covar_module.base_kernel.lengthscale_prior
    assert isinstance(prior, LogNormalPrior)
    mode = max(1.0, math.sqrt(d / 6))
    assert prior.scale.item() == 1.0
    assert prior.loc.item() == pytest.approx(1.0 + math.log(mode), rel=1e-6)  # stored as float32
    assert math.exp(prior.loc.item() - prior.scale.item() ** 2) == pytest.approx(mode)
    if d <= 6:
        assert prior.loc.item() == 1.0  # exactly today's, so branin / hartmann6 runs are unchanged


@pytest.mark.parametrize(
    "name, d, loc, scale",
    [
        ("lognormal", 200, 1.0, 1.0),
        ("sqrt-d10", 10, 1.0, 1.0),
        ("sqrt-d10", 40, 1.0 + 0.5 * math.log(4.0), 1.0),
        ("sqrt-d6", 24, 1.0 + 0.5 * math.log(4.0), 1.0),
        ("hvarfner", 2, math.sqrt(2) + 0.5 * math.log(2), math.sqrt(3)),
        ("hvarfner", 200, math.sqrt(2) + 0.5 * math.log(200), math.sqrt(3)),
    ],
)
def test_lengthscale_prior_formulas_and_the_cold_start_at_their_mode(name, d, loc, scale):
    from bnnbo.surrogates.gaussian.gp import matern_kernel

    kernel = matern_kernel(d, name)
    prior = kernel.base_kernel.lengthscale_prior
    assert (prior.loc.item(), prior.scale.item()) == (pytest.approx(loc), pytest.approx(scale))
    assert torch.allclose(kernel.base_kernel.lengthscale, torch.full((1, d), math.exp(loc - scale**2)))


@pytest.mark.parametrize("d", [2, 25, 200])
def test_hvarfner_prior_is_botorchs_dimension_scaled_prior(d):
    from botorch.models.utils.gpytorch_modules import get_covar_module_with_dim_scaled_prior

    from bnnbo.surrogates.gaussian.gp import lengthscale_prior_for

    ours, _ = lengthscale_prior_for("hvarfner", d)
    theirs = get_covar_module_with_dim_scaled_prior(ard_num_dims=d).lengthscale_prior
    assert ours.loc.item() == pytest.approx(theirs.loc.item())
    assert ours.scale.item() == pytest.approx(theirs.scale.item())


def test_the_odds_of_the_regret_target_over_seed_draws(tmp_path):
    """benchmarks/default_loop.py --odds: issue 20's rule on the medians of drawn seeds."""
    import importlib.util
    import json
    from pathlib import Path

    spec = importlib.util.spec_from_file_location(
        "default_loop_bench", Path(__file__).resolve().parents[1] / "benchmarks" / "default_loop.py"
    )
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert mod.target_met({"a": 1, "b": 1, "c": 2}, {"a": 2, "b": 2, "c": 2})  # two better, one equal
    assert not mod.target_met({"a": 1, "b": 2, "c": 2}, {"a": 2, "b": 2, "c": 2})  # one better only
    assert not mod.target_met({"a": 1, "b": 1, "c": 3}, {"a": 2, "b": 2, "c": 2})  # worse on one
    rows = [
        {"problem": p, "tool": t, "seed": s, "regret": float(s) + shift, "seconds": 1.0}
        for p in ("a", "b", "c")
        for t, shift in (("mine", -0.5), ("theirs", 0.0), ("variant", 0.0))
        for s in range(12)
    ]
    path = tmp_path / "r.json"
    path.write_text(json.dumps({"command": "x", "rows": rows}))
    results, problems, _, _ = mod.merge([str(path)])
    assert "holds in 100% of the draws" in mod.odds(results, problems, "mine", "theirs", 10, samples=200)[-1]
    # a renamed variant equal to the reference is never better, so the rule never holds
    results, problems, _, _ = mod.merge([str(path)], renames={"variant": "same"})
    lines = mod.odds(results, problems, "same", "theirs", 10, samples=200)
    assert "holds in 0% of the draws" in lines[-1] and "| a | 0-11 | 5.5 | 5.5 | 0.50 | 1.00 | 0% |" in lines
    with pytest.raises(SystemExit, match="fewer than 13 seeds"):
        mod.odds(results, problems, "mine", "theirs", 13)
    # one problem: no target line (it needs two problems to be better on); a small p in exponent form
    far = [dict(r, regret=r["regret"] - 100.0) if r["tool"] == "mine" else r for r in rows if r["problem"] == "a"]
    path.write_text(json.dumps({"command": "x", "rows": far}))
    results, problems, _, _ = mod.merge([str(path)])
    lines = mod.odds(results, problems, "mine", "theirs", 10, samples=200)
    assert lines[-1].startswith("| a | 0-11 |") and "| 1.00 | 3.7e-05 | 100% |" in lines[-1]


def test_the_whole_target_on_each_block_of_seeds(tmp_path):
    """benchmarks/default_loop.py --blocks: regret and time, block by block of consecutive seeds."""
    import importlib.util
    import json
    from pathlib import Path

    spec = importlib.util.spec_from_file_location(
        "default_loop_bench", Path(__file__).resolve().parents[1] / "benchmarks" / "default_loop.py"
    )
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    rows = [
        # "mine" lower everywhere; slower than "theirs" on problem a in seeds 10-19 only; seed 25 alone
        {"problem": p, "tool": t, "seed": s, "regret": 1.0 if t == "mine" else 2.0,
         "seconds": 3.0 if (t, p) == ("mine", "a") and 10 <= s < 20 else 1.0}
        for p in ("a", "b", "c")
        for t in ("mine", "theirs")
        for s in [*range(20), 25]
    ]  # fmt: skip
    path = tmp_path / "r.json"
    path.write_text(json.dumps({"command": "x", "rows": rows}))
    results, problems, _, _ = mod.merge([str(path)])
    lines = mod.blocks(results, problems, "mine", "theirs", 10)
    body = [x for x in lines if x.startswith("| ") and x[2].isdigit()]
    assert [x.split(" | ")[0] for x in body] == ["| 0-9", "| 10-19"]  # 25 is no complete block
    assert body[0].endswith("| met |") and body[1].endswith("| not met |")
    assert "| 1 / 2; 3.00 / 1.00 |" in body[1] and lines[-1] == "The target is met on 1 of 2 blocks."
    with pytest.raises(SystemExit, match="no 30 consecutive seeds"):
        mod.blocks(results, problems, "mine", "theirs", 30)


def test_outputs_that_vary_by_less_than_1e_8_are_still_standardised():
    """BoTorch's Standardize leaves a spread below 1e-8 unscaled: under the 1e-6 noise floor such
    values look like noise. The GP must see the same data at any scale."""
    X = torch.rand(8, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    fits = {}
    for a in (1.0, 1e-9):
        Y = a * (X - 0.3).square().sum(-1, keepdim=True)
        m = get_surrogate("gp", output_warp="none").fit(X, Y, seed=0)
        fits[a] = (m.train_targets.std().item(), m.covar_module.base_kernel.lengthscale.flatten())
    assert fits[1e-9][0] == pytest.approx(fits[1.0][0])
    torch.testing.assert_close(fits[1e-9][1], fits[1.0][1], rtol=1e-4, atol=0)
    constant = get_surrogate("gp", output_warp="none").fit(X, torch.full((8, 1), 3.0, dtype=torch.float64), seed=0)
    assert torch.isfinite(constant.train_targets).all()


def test_the_exploring_step_compares_logei_in_its_own_scale():
    """With the warped GP, LogEI is in the warped scale: whether a step explores must not depend
    on the objective's units."""
    import dataclasses

    import bnnbo.optimizer as O

    problem = get_problem("branin")
    preset = dataclasses.replace(OPTIMIZER_PRESETS["analytic"], explore_below=-6.0)
    seen = {}
    orig = O.Optimizer._explores
    for a in (1.0, 1e6):

        def spy(self, *args, _a=a):
            seen[_a] = orig(self, *args)
            return seen[_a]

        O.Optimizer._explores = spy
        try:
            opt = Optimizer(problem.space, seed=3, n_init=6, acq_optimizer=preset)
            X = opt.ask(6)
            opt.tell(X, a * problem.evaluate(X))
            opt.ask()
        finally:
            O.Optimizer._explores = orig
    assert seen[1.0] == seen[1e6]


def test_integers_with_many_levels_are_optimised_relaxed_and_rounded(monkeypatch):
    """The mixed optimiser lists every level of a discrete dim (a minute per ask at 3e4 levels):
    an integer with more than MAX_LISTED_LEVELS levels is optimised as a Float and rounded."""
    import bnnbo.acquisition as A
    from bnnbo.space import Float, Integer, SearchSpace

    def refuse(*args, **kwargs):
        raise AssertionError("the mixed optimiser was asked to list the levels")

    monkeypatch.setattr(A, "optimize_acqf_mixed_alternating", refuse)
    space = SearchSpace([Integer("n", 0, 10**6), Float("x", 0.0, 1.0)])
    opt = Optimizer(space, seed=0, n_init=4)
    f = lambda X: ((X[:, 0] / 1e6 - 0.3) ** 2 + (X[:, 1] - 0.6) ** 2).unsqueeze(-1)  # noqa: E731
    X = opt.ask(4)
    opt.tell(X, f(X))
    X = opt.ask()
    assert X[0, 0] == X[0, 0].round() and 0 <= X[0, 0] <= 10**6
    opt.tell(X, f(X))
    # a few levels: still listed, so the mixed optimiser is asked
    small = Optimizer(SearchSpace([Integer("n", 0, 5), Float("x", 0.0, 1.0)]), seed=0, n_init=4)
    X = small.ask(4)
    small.tell(X, f(X))
    with pytest.raises(AssertionError, match="list the levels"):
        small.ask()


def test_a_loaded_optimizer_chooses_its_acquisition_optimiser_per_ask_as_the_saved_one(tmp_path):
    """The preset is chosen per ask by q unless the user gave one: a checkpoint must keep
    "not given", or a loaded Optimizer(q=2) asked for one point uses the q = 2 preset."""
    problem = get_problem("branin")
    path = tmp_path / "opt.ckpt"
    a = Optimizer(problem.space, seed=1, n_init=5, q=2)
    X = a.ask(5)
    a.tell(X, problem.evaluate(X))
    a.save(path)
    b = Optimizer.load(path)
    assert b.acq_optimizer is None
    for opt in (a, b):
        for _ in range(2):
            X = opt.ask(1)
            opt.tell(X, problem.evaluate(X))
    torch.testing.assert_close(a.X, b.X)
    named = Optimizer(problem.space, seed=1, n_init=5, acq_optimizer="thorough")
    named.save(path)
    assert Optimizer.load(path).acq_optimizer == "thorough"


def test_values_whose_spread_overflows_are_refused_before_anything_changes():
    from bnnbo import DataError

    problem = get_problem("branin")
    opt = Optimizer(problem.space, seed=0, n_init=3)
    X = opt.ask(3)
    with pytest.raises(DataError, match=r"Y\[1, 0\] is 1e\+160; expected a magnitude of at most 1e\+150"):
        opt.tell(X, torch.tensor([[1.0], [1e160], [2.0]], dtype=torch.float64))
    assert opt.n_told == 0
    opt.tell(X, torch.tensor([[1.0], [-1e150], [2.0]], dtype=torch.float64))
    assert opt.n_told == 3


@pytest.mark.parametrize(
    "given, msg",
    [
        ({"raw_samples": 4}, r"raw_samples must be an integer >= 10, got 4"),
        ({"raw_samples": 0}, r"raw_samples must be an integer >= 10, got 0"),
        ({"num_restarts": 2.5}, r"num_restarts must be an integer >= 1, got 2.5"),
        ({"num_restarts": 0}, r"num_restarts must be an integer >= 1, got 0"),
        ({"maxiter": 0}, r"maxiter must be an integer >= 1, got 0"),
        ({"batch_limit": 0}, r"batch_limit must be an integer >= 1, got 0"),
        ({"pgtol": -1.0}, r"pgtol must be a finite number > 0, got -1.0"),
        ({"explore_below": float("nan")}, r"explore_below must be a finite number, got nan"),
        ({"incumbent_margin": -1.0}, r"incumbent_margin must be a finite number >= 0, got -1.0"),
        ({"incumbent_margin": True}, r"incumbent_margin must be a finite number >= 0, got True"),
    ],
)
def test_acquisition_optimiser_settings_are_checked_when_given(given, msg):
    import dataclasses

    with pytest.raises(ConfigError, match=msg):
        dataclasses.replace(OPTIMIZER_PRESETS["analytic"], **given)
    table = {**dataclasses.asdict(OPTIMIZER_PRESETS["analytic"]), **given}
    with pytest.raises(ConfigError, match=msg):
        Optimizer(get_problem("branin").space, acq_optimizer=table)


def test_an_acquisition_optimiser_given_as_a_table():
    space = get_problem("branin").space
    opt = Optimizer(space, acq_optimizer={"num_restarts": 4, "raw_samples": 64, "maxiter": 50})
    assert (opt.preset.num_restarts, opt.preset.raw_samples, opt.preset.maxiter) == (4, 64, 50)
    with pytest.raises(ConfigError, match=r"\['maxiter', 'raw_samples'\] missing"):
        Optimizer(space, acq_optimizer={"num_restarts": 4})
    with pytest.raises(ConfigError, match=r"unknown field\(s\) \['restarts'\]"):
        Optimizer(space, acq_optimizer={"restarts": 4, "num_restarts": 4, "raw_samples": 64, "maxiter": 50})
    from bnnbo import UnknownNameError

    with pytest.raises(UnknownNameError, match="unknown acquisition optimiser preset 7"):
        Optimizer(space, acq_optimizer=7)
