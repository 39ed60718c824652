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
