import pytest
import torch
from botorch.acquisition import qLogNoisyExpectedImprovement
from botorch.exceptions.errors import UnsupportedError
from botorch.sampling.get_sampler import get_sampler

from bnnbo.surrogates.mlp import MLPSpec
from bnnbo.surrogates.posterior import SampleIndexSampler, SampleModel, balanced_indices

D = torch.float64


def _model(S=6, m=2, noise=False, dtype=D):
    spec = MLPSpec(3, (5,), m)
    theta = spec.init(S, torch.Generator().manual_seed(0), dtype) * 2
    mean, std = torch.arange(m, dtype=D), torch.full((m,), 2.0, dtype=D)
    return SampleModel(
        spec, theta, mean, std, torch.full((m,), 0.3, dtype=D), observation_noise=noise
    )


@pytest.mark.parametrize("shape", [(4, 3), (5, 2, 3), (2, 3, 4, 3)])
def test_draws_equal_each_network_evaluated_alone(shape):
    model = _model()
    X = torch.rand(*shape, dtype=D)
    idx = torch.tensor([[3, 0], [5, 3]])
    draws = model.posterior(X).draw(idx)
    assert draws.shape == (2, 2, *shape[:-1], 2) and draws.dtype == D
    for i, j in [(0, 0), (0, 1), (1, 0), (1, 1)]:
        k = int(idx[i, j])
        one = model.spec.forward(model.samples[k : k + 1], X.reshape(-1, 3))[0]
        expected = (one * model.y_std + model.y_mean).reshape(*shape[:-1], 2)
        torch.testing.assert_close(draws[i, j], expected)


def test_mean_and_variance_are_the_mixture_moments_plus_optional_noise():
    X = torch.rand(3, 2, 3, dtype=D)
    for noise in (False, True):
        post = _model(noise=noise).posterior(X)
        f = post.model.evaluate(post.model.samples, X)
        torch.testing.assert_close(post.mean, f.mean(0))
        torch.testing.assert_close(
            post.variance, f.var(0, unbiased=False) + (0.09 if noise else 0.0)
        )
    assert _model().posterior(X, output_indices=[1]).mean.shape == (3, 2, 1)


def test_rsample_is_seeded_by_the_global_rng_and_differentiable():
    model = _model(S=50)
    X = torch.rand(4, 2, 3, dtype=D, requires_grad=True)
    torch.manual_seed(3)
    a = model.posterior(X).rsample(torch.Size([7]))
    torch.manual_seed(3)
    b = model.posterior(X).rsample(torch.Size([7]))
    assert torch.equal(a, b) and a.shape == (7, 4, 2, 2)
    a.sum().backward()
    assert X.grad is not None and X.grad.abs().sum() > 0


def test_balanced_indices():
    g = torch.Generator().manual_seed(0)
    few = balanced_indices(5, 10, g)
    assert len(set(few.tolist())) == 5
    many = balanced_indices(128, 10, g)
    counts = torch.bincount(many, minlength=10)
    assert counts.max() - counts.min() <= 1 and counts.sum() == 128


def test_get_sampler_gives_fixed_seeded_indices_and_position_free_noise():
    model = _model(noise=True)
    X = torch.rand(3, 2, 3, dtype=D)
    sampler = get_sampler(model.posterior(X), torch.Size([16]), seed=5)
    assert isinstance(sampler, SampleIndexSampler)
    a, b = sampler(model.posterior(X)), sampler(model.posterior(X))
    assert torch.equal(a, b)
    again = SampleIndexSampler(torch.Size([16]), seed=5)(model.posterior(X))
    assert torch.equal(a, again)
    # the same candidate gets the same draws whichever t-batch slot it sits in
    swapped = sampler(model.posterior(X.flip(0)))
    torch.testing.assert_close(swapped.flip(1), a)


def test_qlognei_runs_on_a_sample_model_with_gradients():
    model = _model(S=20, m=1, dtype=torch.float32)
    Xb = torch.rand(6, 3, dtype=D)
    acq = qLogNoisyExpectedImprovement(
        model,
        X_baseline=Xb,
        prune_baseline=False,
        sampler=SampleIndexSampler(torch.Size([32]), seed=0),
    )
    X = torch.rand(4, 1, 3, dtype=D, requires_grad=True)
    val = acq(X)
    assert val.shape == (4,) and torch.isfinite(val).all()
    val.sum().backward()
    assert torch.isfinite(X.grad).all() and X.grad.abs().sum() > 0


def test_posterior_transforms_are_refused():
    with pytest.raises(UnsupportedError):
        _model().posterior(torch.rand(2, 3, dtype=D), posterior_transform=object())
