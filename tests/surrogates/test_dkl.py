import pytest
import torch
from botorch.models import ModelListGP
from torch import nn

from bnnbo import ConfigError, UnknownNameError, get_surrogate, optimize
from bnnbo.problems import PROBLEMS
from bnnbo.surrogates.gaussian.dkl import DeepKernel
from bnnbo.testing.conformance import check_surrogate, toy_data

CHEAP = {"widths": [16, 16], "pretrain_steps": 50, "pretrain_lr": 0.01, "train_steps": 50, "lr": 0.01}


def test_conformance():
    check_surrogate(lambda: get_surrogate("dkl", **CHEAP))


def test_gp_acts_on_last_hidden_layer_with_study_priors():
    X, Y = toy_data()
    model = get_surrogate("dkl", **CHEAP).fit(X, Y)
    kernel = model.covar_module
    assert isinstance(kernel, DeepKernel)
    assert isinstance(kernel.extractor[-1], nn.Identity), "the pre-training head must be removed"
    assert kernel.extractor(X).shape == (12, 16)
    matern = kernel.base.base_kernel
    assert matern.nu == 2.5 and matern.lengthscale.shape[-1] == 16
    assert (matern.lengthscale_prior.concentration.item(), matern.lengthscale_prior.rate.item()) == (3.0, 6.0)
    assert kernel.base.outputscale_prior.rate.item() == pytest.approx(0.15)


def test_joint_training_raises_the_marginal_likelihood():
    X, Y = toy_data(n=20)
    untrained = get_surrogate("dkl", **{**CHEAP, "train_steps": 1})
    trained = get_surrogate("dkl", **CHEAP)
    untrained.fit(X, Y, seed=3)
    trained.fit(X, Y, seed=3)
    assert trained.diagnostics_["mll_loss"][0] < untrained.diagnostics_["mll_loss"][0] - 0.1


def test_one_gp_per_objective():
    X, Y = toy_data(m=2)
    model = get_surrogate("dkl", **CHEAP).fit(X, Y)
    assert isinstance(model, ModelListGP) and len(model.models) == 2
    a, b = (m.covar_module.extractor for m in model.models)
    assert a is not b


def test_presets_follow_the_study():
    cls = get_surrogate("dkl").presets
    for name in PROBLEMS:
        assert f"paper:{name}" in cls, f"no DKL preset for shipped problem {name}"
    assert get_surrogate("dkl", preset="paper:ackley").settings.train_steps == 1000
    assert get_surrogate("dkl", preset="paper:branincurrin").settings.pretrain_steps == 0
    assert get_surrogate("dkl", preset="paper:dtlz1").settings.widths == (128, 128)
    s = get_surrogate("dkl").settings
    assert (s.widths, s.lr, s.pretrain_steps, s.train_steps) == ((128, 128, 128), 1e-3, 1000, 5000)


@pytest.mark.parametrize(
    "kwargs, err, msg",
    [
        ({"widths": []}, ConfigError, r"widths must be a non-empty list of positive integers, got \[\]"),
        ({"widths": [8, 0]}, ConfigError, "widths must be"),
        ({"lr": 0.0}, ConfigError, "lr and pretrain_lr must be > 0"),
        ({"train_steps": -1}, ConfigError, "must be >= 0"),
        ({"activation": "elu"}, ConfigError, "'activation' = 'elu'; expected 'tanh' or 'relu'"),
        ({"width": [8]}, UnknownNameError, "unknown setting"),
    ],
)
def test_bad_settings(kwargs, err, msg):
    with pytest.raises(err, match=msg):
        get_surrogate("dkl", **kwargs)


@pytest.mark.parametrize("problem", ["branin", "branincurrin"])
def test_bo_end_to_end(problem):
    r = optimize(problem, "dkl", budget=10, q=2, n_init=6, surrogate_settings=CHEAP, seed=1)
    assert r.X.shape[0] == 10 and torch.isfinite(r.Y).all()
    assert len(r.diagnostics) == 2 and "mll_loss" in r.diagnostics[0]


# ---- the plain-torch marginal likelihood against gpytorch's ---------------------------------
# DKLObjective and Adam replace gpytorch's ExactMarginalLogLikelihood and torch.optim.Adam's
# default loop for speed; these tests pin that they compute the same thing.


def _data(n=15, d=3, m=1, seed=0):
    g = torch.Generator().manual_seed(seed)
    X = torch.rand(n, d, generator=g, dtype=torch.float64)
    Y = 40.0 * torch.sin(3 * X[:, :m] + X[:, -1:]) + 100.0  # raw scale far from standardised
    return X, Y


def _untrained(settings, X, Y, seed=0):
    """The GP DKLSurrogate builds, untrained, at random raw hyperparameters."""
    model = get_surrogate("dkl", **{**settings, "pretrain_steps": 0, "train_steps": 0}).fit(X, Y, seed=seed)
    g = torch.Generator().manual_seed(seed + 1)
    for gp in getattr(model, "models", [model]):
        k, noise = gp.covar_module.base, gp.likelihood.noise_covar
        with torch.no_grad():
            k.base_kernel.raw_lengthscale.copy_(torch.randn(k.base_kernel.raw_lengthscale.shape, generator=g))
            k.raw_outputscale.fill_(float(torch.randn((), generator=g)))
            noise.raw_noise.fill_(0.01 + float(torch.rand((), generator=g)))  # > 1e-4 with or without a transform
            gp.mean_module.raw_constant.fill_(float(torch.randn((), generator=g)))
        gp.train()
    return model


def _targets(gp, Y, target):
    return Y[:, 0] if target == "raw" else gp.train_targets


@pytest.mark.parametrize("constraint", ["study", "softplus"])
@pytest.mark.parametrize("target", ["raw", "standardised"])
def test_plain_objective_is_gpytorchs_in_value_and_gradient(constraint, target):
    from gpytorch.mlls import ExactMarginalLogLikelihood

    from bnnbo.surrogates.gaussian.dkl import DKLObjective

    X, Y = _data()
    gp = _untrained({"widths": [16, 8], "noise_constraint": constraint, "mll_target": target}, X, Y)
    y = _targets(gp, Y, target)
    params = list(gp.parameters())
    assert len(params) == 8  # (weight, bias) of 2 layers; lengthscale, outputscale, noise, constant
    mll = ExactMarginalLogLikelihood(gp.likelihood, gp)
    ref = -mll(gp(X), y)
    ref_grads = torch.autograd.grad(ref, params)
    got = DKLObjective(gp, y)()
    got_grads = torch.autograd.grad(got, params)
    torch.testing.assert_close(got, ref, rtol=1e-12, atol=0)
    for (name, _), a, b in zip(gp.named_parameters(), got_grads, ref_grads):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-12 * float(b.abs().max()), msg=name)


def test_plain_objective_includes_every_prior():
    """Each Gamma prior moves the objective as gpytorch's does (a dropped prior would not)."""
    from gpytorch.mlls import ExactMarginalLogLikelihood

    from bnnbo.surrogates.gaussian.dkl import DKLObjective

    X, Y = _data()
    gp = _untrained({"widths": [8], "noise_constraint": "study"}, X, Y)
    y = Y[:, 0]
    base = DKLObjective(gp, y)().detach()
    for prior in (
        gp.likelihood.noise_covar.noise_prior,
        gp.covar_module.base.outputscale_prior,
        gp.covar_module.base.base_kernel.lengthscale_prior,
    ):
        old = prior.rate.clone()
        prior.rate.mul_(3.0)
        try:
            ref = -ExactMarginalLogLikelihood(gp.likelihood, gp)(gp(X), y)
            got = DKLObjective(gp, y)()
        finally:
            prior.rate.copy_(old)
        assert abs(float(got.detach()) - float(base)) > 1e-6
        torch.testing.assert_close(got, ref, rtol=1e-12, atol=0)


def test_plain_objective_refuses_a_gp_it_does_not_know():
    from botorch.models import SingleTaskGP

    from bnnbo.surrogates.gaussian.dkl import DKLObjective

    X, Y = _data()
    with pytest.raises(TypeError, match="DKLObjective needs"):
        DKLObjective(SingleTaskGP(X, Y), Y[:, 0])


def _fitted_parameters(preset, X, Y, reference, **settings):
    sur = get_surrogate("dkl", preset=preset, **settings)
    sur.reference = reference
    model = sur.fit(X, Y, seed=7)
    return {k: v.detach() for k, v in model.named_parameters()}, sur.diagnostics_


@pytest.mark.parametrize("preset", ["paper:branin", None])
def test_a_short_fit_matches_gpytorchs_path(preset):
    """30 + 30 steps from the same seed: the same network and hyperparameters as gpytorch's
    marginal likelihood under torch.optim.Adam (paper mode: raw y, the untransformed bound)."""
    X, Y = _data(n=12, d=2)
    short = {"widths": [32, 32], "pretrain_steps": 30, "train_steps": 30, "lr": 0.01}
    now, d_now = _fitted_parameters(preset, X, Y, False, **short)
    ref, d_ref = _fitted_parameters(preset, X, Y, True, **short)
    assert now.keys() == ref.keys()
    for k in ref:
        torch.testing.assert_close(now[k], ref[k], rtol=1e-9, atol=1e-11, msg=k)
    assert d_now["mll_loss"][0] == pytest.approx(d_ref["mll_loss"][0], rel=1e-9)
    # the raw-y target matters: the other target leads elsewhere
    other = {"mll_target": "standardised" if preset else "raw"}
    moved, _ = _fitted_parameters(preset, X, Y, False, **short, **other)
    assert not torch.allclose(moved["covar_module.base.raw_outputscale"], ref["covar_module.base.raw_outputscale"])


def test_per_objective_fits_equal_the_studys_joint_sum_mll_training():
    """The study trained its ModelListGP jointly on SumMarginalLogLikelihood (the mean of the
    outputs' losses); Adam is per parameter and the objectives share none, so bnnbo's one fit
    per objective, its loss divided by the number of objectives, is the same."""
    from gpytorch.mlls import SumMarginalLogLikelihood

    from bnnbo.surrogates.gaussian.dkl import train_mll

    X, Y = _data(m=2)
    settings = {"widths": [16], "noise_constraint": "study", "mll_target": "raw"}
    joint, single = _untrained(settings, X, Y), _untrained(settings, X, Y)
    joint.train()
    mll = SumMarginalLogLikelihood(joint.likelihood, joint)
    opt = torch.optim.Adam(joint.parameters(), lr=0.01)
    for _ in range(20):
        opt.zero_grad()
        # the study's raw y, one column per model
        loss = -mll(joint(*[m.train_inputs[0] for m in joint.models]), list(Y.T))
        loss.backward()
        opt.step()
    for j, gp in enumerate(single.models):
        train_mll(gp, 20, 0.01, Y[:, j], outputs=2)
    for a, b in zip(joint.parameters(), single.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-11)


def test_adam_is_torchs_fused_adam():
    from bnnbo.surrogates.adam import FusedAdam as Adam

    g = torch.Generator().manual_seed(0)
    a = [torch.randn(5, 3, generator=g, dtype=torch.float64, requires_grad=True), torch.randn(2, dtype=torch.float64)]
    a[1].requires_grad_(True)
    b = [p.detach().clone().requires_grad_(True) for p in a]
    ours, torchs = Adam(a, lr=0.05), torch.optim.Adam(b, lr=0.05, fused=True)
    for step in range(5):
        for params, opt in ((a, ours), (b, torchs)):
            opt.zero_grad()
            ((params[0] ** 3).sum() + (params[1] * step).sin().sum()).backward()
            opt.step()
    for p, q in zip(a, b):
        assert torch.equal(p, q)
