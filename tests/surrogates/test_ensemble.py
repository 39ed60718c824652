import math

import pytest
import torch

from bnnbo.errors import ConfigError
from bnnbo.surrogates.networks.ensemble import EnsembleSurrogate, subset_mask

D = torch.float64
SMALL = {"widths": [32, 32], "n_members": 6, "train_steps": 300, "lr": 1e-2}


def _clustered(seed):
    """1-D data in [0.35, 0.65]; test points at the data and far from it."""
    g = torch.Generator().manual_seed(seed)
    X = 0.35 + 0.3 * torch.rand(12, 1, generator=g, dtype=D)
    return X, torch.sin(6 * X), torch.tensor([[0.0], [0.05], [0.95], [1.0]], dtype=D)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_members_differ_and_their_spread_shrinks_near_data(seed):
    X, Y, far = _clustered(seed)
    model = EnsembleSurrogate(**SMALL).fit(X, Y, seed=seed)
    assert all(not torch.equal(model.samples[0], model.samples[k]) for k in range(1, 6))
    with torch.no_grad():
        near_sd = model.posterior(X).variance.sqrt().mean()
        far_sd = model.posterior(far).variance.sqrt().mean()
    assert near_sd > 0, "members agree exactly"
    assert far_sd > 2 * near_sd, f"spread near data {near_sd:.3g} vs far {far_sd:.3g}"


def test_each_member_trains_on_its_own_subset():
    mask = subset_mask(5, 10, 0.8, torch.Generator().manual_seed(0))
    assert (mask.sum(1) == math.ceil(0.8 * 10)).all()
    assert len({tuple(r.tolist()) for r in mask}) > 1
    assert (subset_mask(3, 7, 1.0, torch.Generator().manual_seed(0)) == 1).all()


def test_observation_noise_adds_the_noise_variance():
    X, Y, far = _clustered(0)
    plain = EnsembleSurrogate(**SMALL).fit(X, Y, seed=0)
    noisy = EnsembleSurrogate(**SMALL, observation_noise=True).fit(X, Y, seed=0)
    noise_var = (0.1 * Y.std()) ** 2  # noise_std is in standardised units
    torch.testing.assert_close(noisy.posterior(far).variance, plain.posterior(far).variance + noise_var)
    torch.manual_seed(0)
    draws = noisy.posterior(X).rsample(torch.Size([4]))
    assert draws.shape == (4, 12, 1)


def test_paper_preset_and_bad_settings():
    s = EnsembleSurrogate(preset="paper:branin").settings
    assert (s.n_members, s.prior_var, s.noise_std, s.standardize_y, s.observation_noise) == (
        10,
        10.0,
        1.0,  # the study's branin ensemble noise, not its HMC noise (0.1)
        False,
        True,
    )
    with pytest.raises(ConfigError, match="'train_prop' = 0"):
        EnsembleSurrogate(train_prop=0)
    with pytest.raises(ConfigError, match="'n_members' = 0"):
        EnsembleSurrogate(n_members=0)


def test_a_warm_start_continues_the_members_on_their_own_subsets_with_fewer_steps():
    """With warm_start (opt-in) a BO run's next fit starts from the previous members
    (re-expressed in the new y standardisation), each keeping its subset of the old points,
    and trains warm_steps."""
    from bnnbo.surrogates.networks.ensemble import EnsembleSettings, extend_mask

    assert (EnsembleSettings().warm_start, EnsembleSettings().warm_steps) == (False, 200)  # opt-in
    X, Y, far = _clustered(0)
    sur = EnsembleSurrogate(**SMALL, warm_start=True, warm_steps=40)
    previous = sur.fit(X[:9], Y[:9], seed=0)
    first = sur.state_
    assert first["mask"].shape == (6, 9) and sur.diagnostics_["warm_start"] is False
    sur.fit(X, Y, seed=1, state=first)
    assert sur.diagnostics_["warm_start"] is True and sur.diagnostics_["train_steps"] == 40
    mask = sur.state_["mask"]
    assert torch.equal(mask[:, :9], first["mask"]) and (mask.sum(1) == math.ceil(0.8 * 12)).all()
    # (almost) no training: the previous members themselves, in the new y standardisation
    same = EnsembleSurrogate(**{**SMALL, "lr": 1e-12}, warm_start=True, warm_steps=1).fit(X, Y, seed=1, state=first)
    with torch.no_grad():
        torch.testing.assert_close(same.posterior(far).mean, previous.posterior(far).mean, rtol=1e-4, atol=1e-4)
    # a cold fit without state, another architecture or the paper presets: train_steps from scratch
    cold = EnsembleSurrogate(**SMALL, warm_start=False)
    cold.fit(X, Y, seed=1, state=first)
    assert cold.diagnostics_["warm_start"] is False and cold.diagnostics_["train_steps"] == 300
    default = EnsembleSurrogate(**SMALL)
    default.fit(X, Y, seed=1, state=first)
    assert default.diagnostics_["warm_start"] is False
    other = EnsembleSurrogate(**{**SMALL, "widths": [16, 16]}, warm_start=True)
    other.fit(X, Y, seed=1, state=first)
    assert other.diagnostics_["warm_start"] is False
    assert EnsembleSurrogate(preset="paper:branin").settings.warm_start is False
    g = torch.Generator().manual_seed(0)
    assert torch.equal(extend_mask(first["mask"], 9, 0.8, g), first["mask"])


@pytest.mark.parametrize(
    ("dtype", "widths", "d_out", "activation", "tol"),
    [
        (torch.float64, (16, 16), 1, "tanh", 1e-12),
        (torch.float64, (8, 12), 2, "tanh", 1e-12),  # several outputs: the backward's bmm branch
        (torch.float64, (16,), 1, "relu", 1e-12),
        # float32: Adam turns a tiny gradient's rounding into a step of up to lr (1e-2) in a
        # few weights; a wrong gradient moves many by up to 40 lr
        (torch.float32, (32, 32, 32), 1, "tanh", 2e-3),
    ],
)
def test_the_subset_trainer_gives_adam_maps_networks(dtype, widths, d_out, activation, tol):
    """Each member on its own points (gathered) and the gradient written by the matmuls is
    adam_map on all points with 0/1 weights, to float rounding (40 steps: in float64 too few
    for Adam to amplify the rounding)."""
    from bnnbo.surrogates.networks.bnn_common import FitData, adam_map
    from bnnbo.surrogates.networks.ensemble import SubsetTrainer
    from bnnbo.surrogates.networks.mlp import MLPSpec

    g = torch.Generator().manual_seed(3)
    X, Y = torch.rand(15, 3, generator=g, dtype=dtype), torch.randn(15, d_out, generator=g, dtype=dtype)
    spec = MLPSpec(3, widths, d_out, activation)
    theta = spec.init(4, g, dtype)
    mask = subset_mask(4, 15, 0.8, g).to(dtype)
    assert SubsetTrainer.applies(mask)
    data = FitData(X, Y, torch.zeros(d_out), torch.ones(d_out))
    ref = adam_map(spec, theta, data, 0.04, 2.0, 40, 1e-2, weights=mask)
    new = SubsetTrainer(spec, X, Y, mask).run(theta, 0.04, 2.0, 40, 1e-2)
    assert not torch.equal(ref, theta)
    torch.testing.assert_close(new, ref, rtol=0, atol=tol)


def test_which_trainer_an_ensemble_fit_uses(monkeypatch):
    """float32 fits (the default) train with SubsetTrainer; float64 ones (the paper presets) and
    ``reference_trainer`` with adam_map, whose numbers paper runs were stored with."""
    import bnnbo.surrogates.networks.ensemble as ens

    X, Y, _ = _clustered(0)
    used = []
    real_adam, real_run = ens.adam_map, ens.SubsetTrainer.run
    monkeypatch.setattr(ens, "adam_map", lambda *a, **k: used.append("adam_map") or real_adam(*a, **k))
    monkeypatch.setattr(ens.SubsetTrainer, "run", lambda *a, **k: used.append("subset") or real_run(*a, **k))
    small = {**SMALL, "train_steps": 5}
    EnsembleSurrogate(**small).fit(X, Y, seed=0)
    EnsembleSurrogate(**small, dtype="float64").fit(X, Y, seed=0)
    EnsembleSurrogate(preset="paper:branin", train_steps=5, widths=[8]).fit(X, Y, seed=0)
    monkeypatch.setattr(EnsembleSurrogate, "reference_trainer", True)
    EnsembleSurrogate(**small).fit(X, Y, seed=0)
    assert used == ["subset", "adam_map", "adam_map", "adam_map"]
    assert EnsembleSurrogate(preset="paper:branin").settings.dtype == "float64"
