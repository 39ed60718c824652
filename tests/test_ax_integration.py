"""bnnbo.integrations.ax: a bnnbo surrogate as the model of Ax's modular BoTorch generator."""

import logging

import pytest
import torch

pytest.importorskip("ax", minversion="1.0")

from ax import Client, RangeParameterConfig
from botorch.models.transforms.input import Normalize

from bnnbo import get_surrogate
from bnnbo.errors import ConfigError, UnknownNameError
from bnnbo.integrations.ax import BnnboModel, bnnbo_generation_strategy
from bnnbo.space import DTYPE

logging.getLogger("ax").setLevel(logging.ERROR)


def quadratic(p):
    return (p["x"] - 1.0) ** 2 + (p["y"] + 2.0) ** 2


def test_the_model_gives_the_surrogates_posterior_on_unit_scaled_inputs():
    gen = torch.Generator().manual_seed(0)
    bounds = torch.tensor([[-5.0, 0.0], [5.0, 10.0]], dtype=DTYPE)
    X = bounds[0] + (bounds[1] - bounds[0]) * torch.rand(12, 2, generator=gen, dtype=DTYPE)
    Y = -((X[:, :1] - 1.0) ** 2) - (X[:, 1:] - 3.0) ** 2
    model = BnnboModel(X, Y, surrogate="gp", seed=3, input_transform=Normalize(d=2, bounds=bounds))
    test = bounds[0] + (bounds[1] - bounds[0]) * torch.rand(5, 1, 2, generator=gen, dtype=DTYPE)
    mean = model.posterior(test).mean
    assert mean.shape == (5, 1, 1) and model.num_outputs == 1
    # the same fit made by hand on the unit cube
    unit = (X - bounds[0]) / (bounds[1] - bounds[0])
    again = BnnboModel(unit, Y, surrogate="gp", seed=3)
    assert torch.allclose(mean, again.posterior((test - bounds[0]) / (bounds[1] - bounds[0])).mean)
    # it interpolates its training data, so the scaling reached the surrogate
    assert torch.allclose(model.posterior(X[:3].unsqueeze(1)).mean.squeeze(), Y[:3].squeeze(), atol=0.5)


def test_bad_model_inputs_and_names_fail_before_any_ax_work():
    X = torch.rand(1, 2, dtype=DTYPE)
    with pytest.raises(ConfigError, match="at least 2 observations"):
        BnnboModel(X, X[:, :1])
    with pytest.raises(ConfigError, match="seed"):
        BnnboModel(torch.rand(3, 2, dtype=DTYPE), torch.rand(3, 1, dtype=DTYPE), seed=-1)
    with pytest.raises(UnknownNameError):
        bnnbo_generation_strategy("no-such-surrogate")
    with pytest.raises(ConfigError):
        bnnbo_generation_strategy("gp", n_init=0)


def test_an_ax_client_proposes_its_model_based_trials_with_the_bnnbo_surrogate(monkeypatch):
    gp_class = type(get_surrogate("ibnn"))
    fits = []
    original = gp_class.fit

    def recording_fit(self, X, Y, **kwargs):
        fits.append((X.shape, float(X.min()), float(X.max())))
        return original(self, X, Y, **kwargs)

    monkeypatch.setattr(gp_class, "fit", recording_fit)
    client = Client(random_seed=0)
    client.configure_experiment(
        parameters=[
            RangeParameterConfig("x", bounds=(-5.0, 5.0), parameter_type="float"),
            RangeParameterConfig("y", bounds=(-5.0, 5.0), parameter_type="float"),
        ]
    )
    client.configure_optimization(objective="-f")
    client.set_generation_strategy(bnnbo_generation_strategy("ibnn", n_init=4, seed=0))
    seen = []
    for _ in range(5):
        for index, params in client.get_next_trials(max_trials=1).items():
            assert -5.0 <= params["x"] <= 5.0 and -5.0 <= params["y"] <= 5.0
            seen.append(params)
            client.complete_trial(index, raw_data={"f": quadratic(params)})
    # Sobol for four trials, then the fifth from a fit to those four on the unit cube
    assert fits and fits[0][0] == (4, 2) and 0.0 <= fits[0][1] and fits[0][2] <= 1.0
    assert len({(p["x"], p["y"]) for p in seen}) == 5
