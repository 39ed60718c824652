"""auto with combine="mix": the mixture model, its acquisition, the weights and the BO loop."""

import math

import pytest
import torch

from bnnbo import ConfigError, get_surrogate, optimize
from bnnbo.acquisition import build_acquisition
from bnnbo.mixture import MixtureAcquisition, MixtureModel
from bnnbo.surrogates.combined.auto import mix_weights
from bnnbo.testing.conformance import toy_data


def _models(m=1, n=14):
    X, Y = toy_data(n=n, m=m)
    return X, Y, [get_surrogate(c).fit(X, Y, seed=0) for c in ("gp", "ibnn")]


def _build(model, X, Y, q=1, ref=None):
    return build_acquisition(model, X, Y, mode="default", ref_point=ref, seed=3, q=q)


@pytest.mark.parametrize("q, m", [(1, 1), (2, 1), (1, 2)])
def test_mixed_acquisition_is_logsumexp_of_the_candidates(q, m):
    X, Y, models = _models(m=m)
    ref = None if m == 1 else Y.min(0).values - 1.0
    w = torch.tensor([0.3, 0.7], dtype=torch.float64)
    torch.manual_seed(0)  # qLogNEI prunes its baseline with the global stream: the same draws for both
    mixed = _build(MixtureModel(models, w, ["gp", "ibnn"]), X, Y, q, ref)
    assert isinstance(mixed, MixtureAcquisition)
    torch.manual_seed(0)
    parts = [_build(mod, X, Y, q, ref) for mod in models]
    assert [type(p) for p in mixed.parts] == [type(p) for p in parts]  # each candidate's own acquisition
    Xc = torch.rand(7, q, X.shape[1], generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    with torch.no_grad():
        want = torch.logsumexp(torch.stack([w[i].log() + parts[i](Xc) for i in range(2)]), 0)
        got = mixed(Xc)
    assert torch.isfinite(got).all()
    torch.testing.assert_close(got, want)
    # EI itself is the weighted sum of the candidates' EIs
    torch.testing.assert_close(got.exp(), sum(w[i] * parts[i](Xc).exp() for i in range(2)))


def test_fused_gradient_matches_autograd():
    X, Y, models = _models()
    acq = _build(MixtureModel(models, [0.4, 0.6]), X, Y)
    assert acq.has_fused_gradient  # the GP's hand-written gradient is kept
    x = torch.rand(5, X.shape[1], generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    value, grad = acq.value_and_grad(x)
    xx = x.clone().requires_grad_(True)
    v = acq(xx.unsqueeze(-2))
    (g,) = torch.autograd.grad(v.sum(), xx)
    torch.testing.assert_close(value, v.detach())
    torch.testing.assert_close(grad, g, rtol=1e-5, atol=1e-8)
    # restarts run in the heaviest component's lengthscale units (the GP's here: ibnn has none)
    gp_heavy = _build(MixtureModel(models, [0.6, 0.4]), X, Y)
    assert torch.equal(gp_heavy.inv_ls, _build(models[0], X, Y).inv_ls)
    assert not hasattr(acq, "inv_ls")


def test_a_single_component_is_that_candidates_acquisition():
    X, Y, models = _models()
    Xc = torch.rand(6, 1, X.shape[1], generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    for model in models:
        with torch.no_grad():
            torch.testing.assert_close(_build(MixtureModel([model], [1.0]), X, Y)(Xc), _build(model, X, Y)(Xc))


def test_mixture_posterior_moments_and_samples():
    X, Y, models = _models()
    w = torch.tensor([0.25, 0.75], dtype=torch.float64)
    Xt = torch.rand(4, 1, X.shape[1], generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    with torch.no_grad():
        post = MixtureModel(models, w).posterior(Xt)
        ps = [mod.posterior(Xt) for mod in models]
        mean = sum(w[i] * ps[i].mean for i in range(2))
        var = sum(w[i] * (ps[i].variance + ps[i].mean ** 2) for i in range(2)) - mean**2
        torch.testing.assert_close(post.mean, mean)
        torch.testing.assert_close(post.variance, var)
        torch.manual_seed(0)
        draws = post.rsample(torch.Size([20000]))
    assert draws.shape == (20000, *post.mean.shape)
    z = (draws.mean(0) - mean) / (var / 20000).sqrt()
    assert z.abs().max() < 5
    # EI under the mixture, from its samples, is what the mixed LogEI says
    acq = _build(MixtureModel(models, w), X, Y)
    with torch.no_grad():
        mc = (draws - Y.max()).clamp_min(0).mean(0).reshape(-1)
        exact = acq(Xt).exp()
    se = (draws - Y.max()).clamp_min(0).std(0).reshape(-1) / math.sqrt(20000)
    assert ((mc - exact).abs() < 5 * se + 1e-9).all(), (mc, exact)


def test_pending_points_reach_every_component():
    X, Y, models = _models()
    w = torch.tensor([0.5, 0.5], dtype=torch.float64)
    torch.manual_seed(0)
    acq = _build(MixtureModel(models, w), X, Y, q=2)
    torch.manual_seed(0)
    parts = [_build(mod, X, Y, q=2) for mod in models]
    pending = X[:2] * 0.5 + 0.25
    Xc = torch.rand(5, 2, X.shape[1], generator=torch.Generator().manual_seed(6), dtype=torch.float64)
    with torch.no_grad():
        before = acq(Xc)
        torch.manual_seed(1)  # pending points re-prune the baseline with the global stream
        acq.set_X_pending(pending)
        torch.manual_seed(1)
        for p in parts:
            p.set_X_pending(pending)
        want = torch.logsumexp(torch.stack([w[i].log() + parts[i](Xc) for i in range(2)]), 0)
        got = acq(Xc)
    torch.testing.assert_close(got, want)
    assert not torch.allclose(got, before)  # the pending points changed every component's value
    torch.manual_seed(2)
    acq.set_X_pending(None)
    torch.manual_seed(2)
    for p in parts:
        p.set_X_pending(None)
    with torch.no_grad():
        want = torch.logsumexp(torch.stack([w[i].log() + parts[i](Xc) for i in range(2)]), 0)
        torch.testing.assert_close(acq(Xc), want)


def test_mix_weights_are_a_softmax_of_the_score_sums():
    w = mix_weights({"gp": [-3.0, 10.0], "ibnn": [-4.0, 10.0]}, ["gp", "ibnn", "dkl"])
    assert w["dkl"] == 0.0
    assert w["gp"] == pytest.approx(1 / (1 + math.exp(-1.0)))
    assert mix_weights({}, ["gp"]) == {"gp": 0.0}


def test_a_candidate_that_missed_points_gains_no_weight_by_it():
    """Summed over fewer points, a worse candidate's (negative) score sum is higher: the weights
    count its mean score for the points it missed."""
    w = mix_weights({"gp": [-7.3, 10.0], "gp/b": [-4.96, 4.0]}, ["gp", "gp/b"])  # means -0.73, -1.24
    assert w["gp"] > 0.99
    same = mix_weights({"gp": [-3.0, 10.0], "ibnn": [-1.5, 5.0]}, ["gp", "ibnn"])  # equal means
    assert same["gp"] == pytest.approx(0.5)


def test_a_candidate_serving_alone_reports_its_own_fit():
    """By the log densities ibnn carries the mixture while gp predicts better by CRPS (auto's
    choice): the fit diagnostics are those of the model served."""
    X, Y = toy_data(n=18)
    auto = get_surrogate("auto", combine="mix", mix_weights="lpd", mix_threshold=0.5)
    for label, sur in auto.members.items():  # tag each candidate's fit diagnostics
        fit = sur.fit

        def tagged(*args, _sur=sur, _fit=fit, _label=label, **kwargs):
            model = _fit(*args, **kwargs)
            _sur.diagnostics_ = {"candidate": _label}
            return model

        sur.fit = tagged
    auto.fit(X[:10], Y[:10], seed=0)
    auto.fit(X, Y, seed=1, state=auto.state_)
    d = auto.diagnostics_
    assert (d["choice"], d["served"]) == ("gp", "ibnn")
    assert d["fit"] == {"candidate": "ibnn"}


def test_fit_serves_the_mixture_or_one_candidate():
    X, Y = toy_data(n=16)
    auto = get_surrogate("auto", combine="mix", mix_threshold=1.0)
    model = auto.fit(X[:12], Y[:12], seed=0)
    model = auto.fit(X, Y, seed=1, state=auto.state_)
    d = auto.diagnostics_
    assert d["served"] == "mix" and isinstance(model, MixtureModel)
    assert model.labels == ["gp", "ibnn"]
    totals = auto.state_["totals"]
    want = mix_weights(totals, ["gp", "ibnn"])
    assert d["weights"] == pytest.approx(want) and model.weights.tolist() == pytest.approx([want["gp"], want["ibnn"]])
    assert d["choice"] == max(want, key=want.get)  # by CRPS, the heaviest weight is auto's choice
    # a threshold below the heaviest weight: that candidate serves alone, its own model
    alone = get_surrogate("auto", combine="mix", mix_threshold=0.5)
    served = alone.fit(X, Y, seed=0)
    assert alone.diagnostics_["served"] == alone.diagnostics_["choice"]
    assert served is alone._last[2][alone.diagnostics_["choice"]]


def test_lpd_weights_follow_the_log_densities():
    X, Y = toy_data(n=18)
    auto = get_surrogate("auto", combine="mix", mix_weights="lpd", metric="crps")
    auto.fit(X[:12], Y[:12], seed=0)
    auto.fit(X, Y, seed=1, state=auto.state_)
    lpd = auto.state_["lpd_totals"]
    assert set(lpd) == {"gp", "ibnn"} and lpd != auto.state_["totals"]
    assert auto.diagnostics_["weights"] == pytest.approx(mix_weights(lpd, ["gp", "ibnn"]))


def test_choose_is_unchanged_by_the_mix_settings():
    X, Y = toy_data(n=16)
    a = get_surrogate("auto")
    model = a.fit(X, Y, seed=0)
    assert not isinstance(model, MixtureModel) and "weights" not in a.diagnostics_
    assert "lpd_totals" not in a.state_


@pytest.mark.parametrize(
    "kwargs, msg",
    [
        ({"combine": "mix", "holdout": "recent"}, "combine='mix' needs holdout='prequential'"),
        ({"combine": "hedge", "holdout": "kfold"}, "combine='hedge' needs holdout='prequential'"),
        ({"combine": "average"}, "expected 'choose' or 'mix' or 'hedge'"),
        ({"mix_weights": "bma"}, "expected 'score' or 'lpd'"),
        ({"mix_threshold": 0.2}, r"mix_threshold must be in \[0.5, 1\]"),
    ],
)
def test_bad_mix_settings(kwargs, msg):
    with pytest.raises(ConfigError, match=msg):
        get_surrogate("auto", **kwargs)


@pytest.mark.parametrize("problem, q", [("branin", 1), ("branin", 2), ("branincurrin", 1), ("branincurrin", 2)])
def test_bo_end_to_end_with_a_mixture(problem, q):
    settings = {"combine": "mix", "mix_threshold": 1.0}  # always mix: the mixture path is what is tested
    r = optimize(problem, "auto", budget=6 + 2 * q, q=q, n_init=6, seed=1, surrogate_settings=settings)
    assert r.X.shape[0] == 6 + 2 * q and torch.isfinite(r.Y).all()
    assert len(r.diagnostics) == 2
    for d in r.diagnostics:
        assert d["served"] == "mix" and set(d["weights"]) == {"gp", "ibnn"}
        assert sum(d["weights"].values()) == pytest.approx(1.0) and d["choice"] in ("gp", "ibnn")
