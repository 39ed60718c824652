import pytest
import torch
from botorch.models.kernels import InfiniteWidthBNNKernel

from bnnbo import ConfigError, UnknownNameError, get_surrogate
from bnnbo.surrogates import SURROGATES, surrogate_class
from bnnbo.surrogates.gaussian.ibnn import NNGPKernel
from bnnbo.testing.conformance import check_surrogate, toy_data

CHEAP = {
    "gp": {},
    "gp-paper": {"priors": "paper"},
    "ibnn": {},
    "ibnn-erf-learned": {"activation": "erf", "learn_variances": True},
}


@pytest.mark.parametrize("label", list(CHEAP))
def test_conformance(label):
    name = label.split("-")[0]
    check_surrogate(lambda: get_surrogate(name, **CHEAP[label]))


@pytest.mark.parametrize("depth", [1, 2, 3, 5])
@pytest.mark.parametrize("var_w, var_b", [(10.0, 1.3), (1.0, 0.1), (3.0, 5.0)])
def test_ibnn_relu_matches_botorch(depth, var_w, var_b):
    g = torch.Generator().manual_seed(depth)
    x1 = torch.rand(2, 7, 4, generator=g, dtype=torch.float64)
    x2 = torch.rand(2, 5, 4, generator=g, dtype=torch.float64)
    ours = NNGPKernel(depth, "relu", var_w, var_b).to(x1)
    ref = InfiniteWidthBNNKernel(depth).to(x1)
    # float64 tensors: BoTorch's setter would round a Python float through float32
    ref.weight_var = torch.tensor(var_w, dtype=torch.float64)
    ref.bias_var = torch.tensor(var_b, dtype=torch.float64)
    assert torch.allclose(ours(x1, x2).to_dense(), ref(x1, x2).to_dense(), rtol=1e-10, atol=1e-12)
    assert torch.allclose(ours(x1, x1, diag=True), ref(x1, x1).to_dense().diagonal(dim1=-2, dim2=-1))


def test_erf_kernel_is_a_valid_covariance():
    x = torch.rand(30, 3, dtype=torch.float64)
    K = NNGPKernel(3, "erf", 10.0, 1.3).to(x)(x, x).to_dense()
    assert torch.allclose(K, K.T)
    assert torch.linalg.eigvalsh(K).min() > -1e-8
    # single layer, by the closed form: var_b + 2 var_w / pi * asin(2 k12 / sqrt((1+2k11)(1+2k22)))
    k0 = 1.3 + 10.0 * (x @ x.T) / 3
    d = k0.diagonal()
    expect = 1.3 + 20.0 / torch.pi * torch.asin(2 * k0 / ((1 + 2 * d)[:, None] * (1 + 2 * d)[None]).sqrt())
    assert torch.allclose(NNGPKernel(1, "erf", 10.0, 1.3).to(x)(x, x).to_dense(), expect)


def test_ibnn_fixed_variances_are_not_fitted():
    X, Y = toy_data()
    model = get_surrogate("ibnn").fit(X, Y)
    assert model.covar_module.variances.tolist() == [10.0, 1.3]
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    assert sorted(names) == ["likelihood.noise_covar.raw_noise", "mean_module.raw_constant"]


def test_ibnn_learned_variances_move():
    X, Y = toy_data(n=20)
    s = get_surrogate("ibnn", learn_variances=True)
    s.fit(X, Y)
    assert s.diagnostics_["var_w"][0] != pytest.approx(10.0)


def test_paper_gp_priors():
    X, Y = toy_data()
    model = get_surrogate("gp", priors="paper").fit(X, Y)
    base = model.covar_module.base_kernel
    assert base.nu == 2.5 and base.lengthscale.shape[-1] == 3
    assert (base.lengthscale_prior.concentration.item(), base.lengthscale_prior.rate.item()) == (3.0, 6.0)
    assert model.covar_module.outputscale_prior.rate.item() == pytest.approx(0.15)
    assert model.likelihood.noise_covar.noise_prior.concentration.item() == pytest.approx(1.1)


def test_every_registered_surrogate_lists_settings():
    for name in SURROGATES:
        defaults = surrogate_class(name).Settings.defaults()
        assert isinstance(defaults, dict)


@pytest.mark.parametrize(
    "kwargs, err, msg",
    [
        ({"prior": "paper"}, UnknownNameError, r"unknown setting\(s\) 'prior'; allowed: priors"),
        ({"priors": "old"}, ConfigError, r"'priors' = 'old'; expected 'modern' or 'paper'"),
    ],
)
def test_gp_bad_settings(kwargs, err, msg):
    with pytest.raises(err, match=msg):
        get_surrogate("gp", **kwargs)


@pytest.mark.parametrize(
    "kwargs, msg",
    [
        ({"depth": 0}, "depth must be >= 1"),
        ({"var_w": -1.0}, "must be > 0"),
        ({"depth": "3"}, "expected an integer"),
        ({"learn_variances": 1}, "expected true or false"),
        ({"preset": "paper:nope"}, "unknown preset 'paper:nope'"),
    ],
)
def test_ibnn_bad_settings(kwargs, msg):
    with pytest.raises((ConfigError, UnknownNameError), match=msg):
        get_surrogate("ibnn", **kwargs)


def test_presets_apply_and_explicit_wins():
    s = get_surrogate("ibnn", preset="paper:realworld", depth=2)
    assert (s.settings.var_b, s.settings.depth) == (1.6, 2)


def test_unknown_surrogate():
    with pytest.raises(UnknownNameError, match="unknown surrogate 'gpp'"):
        get_surrogate("gpp")


def test_presets_answer_to_study_and_problem_names():
    from bnnbo.surrogates import get_surrogate as gs

    assert gs("hmc", preset="paper:hartmann6").settings == gs("hmc", preset="paper:hartmann").settings
    assert gs("dkl", preset="paper:kd").settings == gs("dkl", preset="paper:distill").settings
