import json
import math

import pytest
import torch

from bnnbo.errors import ConfigError, SurrogateError, UnknownNameError
from bnnbo.surrogates.networks.hmc import HMCSurrogate
from bnnbo.surrogates.networks.mcmc_stats import ess, split_rhat
from bnnbo.surrogates.networks.samplers import DualAveraging, piecewise_inv_mass
from bnnbo.testing.known_answers import closed_form, linear_data

D = torch.float64
TINY = {
    "widths": [8],
    "pretrain_steps": 50,
    "pretrain_lr": 1e-2,
    "n_chains": 2,
    "n_burn_in": 20,
    "n_samples": 20,
}


@pytest.mark.parametrize(
    "seed, extra",
    [
        (0, {}),
        (1, {}),
        (2, {"dtype": "float64"}),
        (3, {"metric": "diagonal"}),
        (4, {"collapse_output_layer": True}),  # nothing left to move: exact draws
    ],
)
def test_bayesian_linear_regression_matches_closed_form_within_mc_error(seed, extra):
    """HMC on all weights of a linear model (the output layer not integrated out, unless
    the case asks) against the closed-form posterior."""
    extra = {"collapse_output_layer": False, **extra}
    X, Y, Xt = linear_data(seed)
    mean, var = closed_form(X, Y, Xt, 0.3, 1.0)
    C = 4
    sur = HMCSurrogate(
        widths=[],
        noise_std=0.3,
        prior_var=1.0,
        standardize_y=False,
        pretrain_steps=0,
        n_chains=C,
        thin=1,
        n_burn_in=100,
        n_samples=1000,
        path_length=0.15,
        **extra,
    )
    model = sur.fit(X, Y, seed=seed)
    post = model.posterior(Xt)
    f = model.evaluate(model.samples, Xt).squeeze(-1)  # stored as (draw, chain) pairs
    n_eff = ess(f.reshape(-1, C, len(Xt)).transpose(0, 1))
    assert n_eff.min() > 150, f"too few effective samples for a meaningful check: {n_eff.min():.0f}"
    z_mean = (post.mean.squeeze(-1) - mean).abs() / (var / n_eff).sqrt()
    z_var = (post.variance.squeeze(-1) / var - 1).abs() / (2 / n_eff).sqrt()
    assert z_mean.max() < 5, f"posterior mean off by {z_mean.max():.1f} Monte Carlo standard errors"
    assert z_var.max() < 5, f"posterior variance off by {z_var.max():.1f} Monte Carlo standard errors"


def test_dual_averaging_finds_the_target_acceptance():
    da = DualAveraging(target=0.8)
    s = da.init(1.0)
    for _ in range(1000):  # acceptance exp(-eps) is 0.8 at eps = -log 0.8
        s = da.update(s, math.exp(-math.exp(s.log_step)))
    assert da.final(s) == pytest.approx(-math.log(0.8), rel=0.05)


def test_split_rhat_and_ess_on_known_chains():
    g = torch.Generator().manual_seed(0)
    iid = torch.randn(4, 1000, 3, generator=g, dtype=D)
    assert (split_rhat(iid) - 1).abs().max() < 0.02
    assert ((ess(iid) / 4000) - 1).abs().max() < 0.25
    assert split_rhat(iid + torch.arange(4, dtype=D)[:, None, None]).min() > 1.5  # chains disagree
    ar = torch.zeros(4, 4000, 1, dtype=D)  # AR(1), phi 0.9: ESS = N (1 - phi) / (1 + phi)
    for t in range(1, 4000):
        ar[:, t] = 0.9 * ar[:, t - 1] + torch.randn(4, 1, generator=g, dtype=D)
    assert ess(ar).item() == pytest.approx(16000 * 0.1 / 1.9, rel=0.35)


def _toy(n=12):
    g = torch.Generator().manual_seed(1)
    X = torch.rand(n, 2, generator=g, dtype=D)
    return X, torch.sin(4 * X[:, :1]) + X[:, 1:]


def test_diagnostics_state_and_warm_start():
    X, Y = _toy()
    sur = HMCSurrogate(**TINY)
    sur.fit(X[:-1], Y[:-1], seed=0)
    d = sur.diagnostics_
    json.dumps(d)
    for key in ("acceptance", "step_size", "n_leapfrog", "divergences", "rhat_max", "ess_min"):
        assert key in d
    assert d["warm_start"] is False and sur.state_["position"].shape == (2, 2 * 8 + 8 + 8 + 1)
    state = sur.state_
    warm = sur.fit(X, Y, seed=1, state=state)
    assert sur.diagnostics_["warm_start"] is True
    again = HMCSurrogate(**TINY).fit(X, Y, seed=1, state=state)
    assert torch.equal(warm.samples, again.samples)  # warm starts are deterministic too
    HMCSurrogate(**{**TINY, "warm_start": False}).fit(X, Y, seed=1, state=state)
    other = HMCSurrogate(**{**TINY, "widths": [4]})
    other.fit(X, Y, seed=1, state=state)  # an incompatible state is ignored
    assert other.diagnostics_["warm_start"] is False


def test_default_chain_count_and_thinning_on_cpu():
    X, Y = _toy()
    settings = {k: v for k, v in TINY.items() if k != "n_chains"}
    sur = HMCSurrogate(**settings)
    model = sur.fit(X, Y, seed=0)
    assert sur.diagnostics_["n_chains"] == 1  # None: one chain on a CPU
    assert model.samples.shape[0] == TINY["n_samples"]  # thin None keeps n_samples networks
    four = HMCSurrogate(**settings, n_chains=4)
    assert four.fit(X, Y, seed=0).samples.shape[0] == TINY["n_samples"]


@pytest.mark.parametrize("first, second", [(False, True), (True, False)])
def test_warm_start_across_collapsed_and_full_samplers(first, second):
    """The state holds whole networks either way, so either sampler can continue it."""
    X, Y = _toy()
    long = {**TINY, "n_burn_in": 40, "metric": "diagonal"}  # long enough to adapt a mass
    sur = HMCSurrogate(**long, collapse_output_layer=first)
    sur.fit(X[:-1], Y[:-1], seed=0)
    assert sur.state_["inv_mass"] is not None  # sized for the other sampler: not reused
    nxt = HMCSurrogate(**long, collapse_output_layer=second)
    model = nxt.fit(X, Y, seed=1, state=sur.state_)
    assert nxt.diagnostics_["warm_start"] is True
    assert torch.isfinite(model.posterior(X).mean).all()


def test_a_diverging_sampler_raises_surrogate_error():
    X, Y = _toy()
    sur = HMCSurrogate(**{**TINY, "step_size": 5.0, "adapt_step_size": False, "step_jitter": 0.0})
    with pytest.raises(SurrogateError, match="diverged"):
        sur.fit(X, Y, seed=0)


@pytest.mark.parametrize(
    "bad, words",
    [
        ({"n_chains": 0}, ["n_chains", "0", ">= 1"]),
        ({"target_accept": 1.5}, ["target_accept", "1.5"]),
        ({"widths": [0]}, ["widths", "[0]"]),
        ({"dtype": "float16"}, ["dtype", "float16"]),
        ({"noise_std": -1}, ["noise_std", "-1"]),
        ({"thin": 0}, ["thin", "0", ">= 1"]),
    ],
)
def test_bad_settings_name_the_value(bad, words):
    with pytest.raises(ConfigError) as info:
        HMCSurrogate(**bad)
    assert all(w in str(info.value) for w in words), str(info.value)


def test_unknown_setting_and_preset():
    with pytest.raises(UnknownNameError, match="noise_var.*allowed.*noise_std"):
        HMCSurrogate(noise_var=0.1)
    with pytest.raises(UnknownNameError, match="paper:nope"):
        HMCSurrogate(preset="paper:nope")


def test_paper_presets_are_the_study_settings():
    s = HMCSurrogate(preset="paper:hartmann").settings
    assert (
        s.widths,
        s.prior_var,
        s.noise_std,
        s.n_burn_in,
        s.n_samples,
        s.step_size,
        s.path_length,
    ) == ((128, 128, 128), 1.0, 0.1, 500, 500, 0.02, 0.01)
    assert (
        s.n_chains,
        s.dtype,
        s.warm_start,
        s.metric,
        s.step_jitter,
        s.collapse_output_layer,
        s.thin_for(1),
    ) == (1, "float64", False, "identity", 0.0, False, 1)
    bc = HMCSurrogate(preset="paper:branincurrin").settings
    assert (bc.n_burn_in, bc.n_samples, bc.step_size, bc.prior_var) == (100, 200, 0.01, 10.0)
    pest = HMCSurrogate(preset="paper:pest").settings
    assert (pest.widths, pest.noise_std, pest.standardize_y) == ((128,) * 4, 10.0, False)
    assert len([k for k in HMCSurrogate.presets if k.startswith("paper:")]) == 15
    fast = HMCSurrogate(preset="fast:hartmann", n_chains=8).settings
    assert fast.n_chains == 8 and fast.warm_start and fast.path_length == 0.01


def test_piecewise_inverse_mass_follows_each_pieces_curvature():
    """On U = 1/2 sum_l c_l |theta_l|^2 the inverse mass of piece l is 1 / c_l, scaled to
    mean 1; the floor caps flat pieces."""
    sizes, curv = [3, 5, 2], torch.tensor([100.0, 4.0, 0.01], dtype=D)
    c = torch.repeat_interleave(curv, torch.tensor(sizes))

    def potential(theta):
        return 0.5 * (c * theta * theta).sum(-1), c * theta, theta[:, :1, None]

    theta = torch.randn(2, 10, generator=torch.Generator().manual_seed(0), dtype=D)
    inv = piecewise_inv_mass(potential, theta, sizes, torch.Generator().manual_seed(1), floor=1.0)
    expected = torch.repeat_interleave(1 / torch.tensor([100.0, 4.0, 1.0], dtype=D), torch.tensor(sizes))
    assert torch.allclose(inv, expected / expected.mean(), rtol=1e-6)


def test_a_warm_fit_keeps_warm_samples_transitions_at_most_n_samples():
    """After a warm start the chains keep warm_samples transitions (by default n_samples: fewer
    cost held-out NLL), never more than a cold fit's n_samples."""
    from bnnbo.surrogates.networks.hmc import HMCSettings

    assert (HMCSettings().warm_samples, HMCSettings().n_samples) == (None, 500)
    X, Y = _toy()
    sur = HMCSurrogate(**{**TINY, "n_samples": 30, "warm_samples": 10})
    cold = sur.fit(X[:-1], Y[:-1], seed=0)
    assert sur.diagnostics_["transitions"] == 2 * 30 and cold.num_samples == 30  # thin = chains
    warm = sur.fit(X, Y, seed=1, state=sur.state_)
    assert sur.diagnostics_["transitions"] == 2 * 10 and warm.num_samples == 10
    big = HMCSurrogate(**{**TINY, "n_samples": 30, "warm_samples": 99})
    big.fit(X, Y, seed=1, state=sur.state_)
    assert big.diagnostics_["transitions"] == 2 * 30
    with pytest.raises(ConfigError, match="'warm_samples' = 0"):
        HMCSurrogate(warm_samples=0)
