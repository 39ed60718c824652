import pytest
import torch
from botorch.acquisition import qLogNoisyExpectedImprovement
from botorch.exceptions.errors import UnsupportedError
from botorch.sampling.get_sampler import get_sampler

from bnnbo.surrogates.networks.mlp import MLPSpec
from bnnbo.surrogates.posterior import SampleIndexSampler, SampleModel, balanced_indices

D = torch.float64


def _model(S=6, m=2, noise=False, dtype=D):
    spec = MLPSpec(3, (5,), m)
    theta = spec.init(S, torch.Generator().manual_seed(0), dtype) * 2
    mean, std = torch.arange(m, dtype=D), torch.full((m,), 2.0, dtype=D)
    return SampleModel(spec, theta, mean, std, torch.full((m,), 0.3, dtype=D), observation_noise=noise)


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
        torch.testing.assert_close(post.variance, f.var(0, unbiased=False) + (0.09 if noise else 0.0))
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


def test_repeated_networks_are_evaluated_once_with_the_same_draws_and_gradients():
    model = _model(S=5, m=1)
    idx = torch.tensor([[4, 1, 4], [1, 1, 0]])
    out = {}
    for fast in (True, False):
        model.fast_draws = fast
        X = torch.rand(2, 3, 3, dtype=D, generator=torch.Generator().manual_seed(1), requires_grad=True)
        draws = model.posterior(X).draw(idx)
        draws.pow(2).sum().backward()
        out[fast] = (draws, X.grad)
        assert model._cache[0].numel() == (3 if fast else 6)  # the networks evaluated
    assert out[True][0].shape == (2, 3, 2, 3, 1)
    torch.testing.assert_close(out[True][0], out[False][0])
    torch.testing.assert_close(out[True][1], out[False][1])


def test_default_acquisition_uses_the_models_sample_count_and_is_deterministic_given_the_seed(
    monkeypatch,
):
    from botorch.sampling import StochasticSampler

    from bnnbo.acquisition import NUM_MC_SAMPLES, build_acquisition
    from bnnbo.surrogates import posterior

    monkeypatch.setattr(posterior, "ACQUISITION_SAMPLES", 64)
    model = _model(S=300, m=1, dtype=torch.float32)
    U = torch.rand(8, 3, dtype=D, generator=torch.Generator().manual_seed(0))
    Y = model.posterior(U).mean.detach()
    X = torch.rand(5, 4, 3, dtype=D, generator=torch.Generator().manual_seed(2))

    def build(seed, **kw):
        return build_acquisition(model, U, Y, mode="default", ref_point=None, seed=seed, **kw)

    acq = build(3)
    assert acq.sampler.sample_shape == (64,)
    # fixed base samples: the same seed gives the same function, another seed another one
    torch.testing.assert_close(acq(X), build(3)(X), rtol=0, atol=0)
    assert not torch.allclose(acq(X), build(4)(X))
    assert build(3, num_samples=128).sampler.sample_shape == (128,)
    # fewer networks than the count: each network once
    small = _model(S=20, m=1)
    assert build_acquisition(small, U, Y, mode="default", ref_point=None, seed=0).sampler.sample_shape == (20,)
    # paper mode keeps the study's i.i.d. draws of 128 networks
    paper = build_acquisition(model, U, Y, mode="paper", ref_point=None, seed=0)
    assert isinstance(paper.sampler, StochasticSampler) and paper.sampler.sample_shape == (NUM_MC_SAMPLES,)


def test_float32_networks_agree_with_float64_ones():
    spec = MLPSpec(6, (64, 64), 1)
    theta = spec.init(40, torch.Generator().manual_seed(0), D) * 2
    one = torch.ones(1, dtype=D)
    models = {dt: SampleModel(spec, theta.to(dt), one, one, one) for dt in (torch.float32, D)}
    X = torch.rand(7, 3, 6, dtype=D, generator=torch.Generator().manual_seed(1))
    idx = torch.arange(40)
    f32, f64 = (models[dt].posterior(X).draw(idx) for dt in (torch.float32, D))
    assert f32.dtype == D
    torch.testing.assert_close(f32, f64, rtol=1e-4, atol=1e-4)


def test_paper_mode_values_are_unchanged_by_evaluating_repeated_networks_once():
    from bnnbo.acquisition import build_acquisition

    model = _model(S=6, m=1, noise=True)  # 128 i.i.d. draws of 6 networks: many repeats
    U = torch.rand(5, 3, dtype=D, generator=torch.Generator().manual_seed(0))
    Y = model.posterior(U).mean.detach()
    X = torch.rand(4, 2, 3, dtype=D, generator=torch.Generator().manual_seed(1))
    values = []
    for fast in (True, False):
        model.fast_draws = fast
        acq = build_acquisition(model, U, Y, mode="paper", ref_point=None, seed=0)
        torch.manual_seed(7)  # the study's draws come from the global RNG
        values.append(acq(X))
    assert values[0].abs().min() > 0
    torch.testing.assert_close(values[0], values[1])


def test_a_subset_sampler_draws_the_first_networks_and_noise_of_the_full_one():
    model = _model(S=50, m=1, noise=True)
    X = torch.rand(3, 2, 3, dtype=D)
    full = SampleIndexSampler(torch.Size([40]), seed=4)
    sub = full.subset(8)
    assert sub.sample_shape == (8,)
    torch.testing.assert_close(sub(model.posterior(X)), full(model.posterior(X))[:8], rtol=0, atol=0)
    assert sub.subset(3)(model.posterior(X)).shape[0] == 3
    with pytest.raises(ValueError, match="subset of 41"):
        full.subset(41)


def test_the_optimiser_searches_on_a_few_networks_then_polishes_on_all(monkeypatch):
    import botorch.optim

    from bnnbo import acquisition
    from bnnbo.space import SearchSpace
    from bnnbo.surrogates import posterior

    model = _model(S=200, m=1, dtype=torch.float32)
    assert model.coarse_samples == posterior.COARSE_SAMPLES  # on by default
    U = torch.rand(6, 3, dtype=D, generator=torch.Generator().manual_seed(0))
    Y = model.posterior(U).mean.detach()
    space = SearchSpace.box([[0.0] * 3, [1.0] * 3])
    preset = acquisition.OptimizerPreset(num_restarts=4, raw_samples=32, maxiter=30)
    calls = []

    def spy(acq, **kwargs):
        calls.append((acq.sampler.sample_shape[0], kwargs))
        return botorch.optim.optimize_acqf(acq, **kwargs)

    monkeypatch.setattr(acquisition, "optimize_acqf", spy)
    results = {}
    for coarse in (posterior.COARSE_SAMPLES, None):
        model.coarse_samples = coarse
        acq = acquisition.build_acquisition(model, U, Y, mode="default", ref_point=None, seed=1, q=2)
        results[coarse] = acquisition.optimize_acquisition(acq, space, 2, preset, "proper")
    model.coarse_samples = posterior.COARSE_SAMPLES
    (n1, first), (n2, second), (n3, one) = calls
    # the search: every restart on the first COARSE_SAMPLES of the 128 networks
    assert (n1, first["num_restarts"], first["raw_samples"]) == (posterior.COARSE_SAMPLES, 4, 32)
    # the polish: the best POLISHED_RESTARTS of those, on all networks, from those points
    assert n2 == posterior.ACQUISITION_SAMPLES
    assert second["batch_initial_conditions"].shape == (posterior.POLISHED_RESTARTS, 2, 3)
    assert second["num_restarts"] == posterior.POLISHED_RESTARTS
    # without the option: one stage on all networks, as before
    assert n3 == posterior.ACQUISITION_SAMPLES and "batch_initial_conditions" not in one
    acq = acquisition.build_acquisition(model, U, Y, mode="default", ref_point=None, seed=1, q=2)
    with torch.no_grad():
        polished = acq(results[posterior.COARSE_SAMPLES].unsqueeze(0))
        starts = acq(second["batch_initial_conditions"])
    assert polished >= starts.max()  # polishing never loses the best start's value


def test_polish_maxiter_caps_only_the_polish(monkeypatch):
    """``SampleModel.polish_maxiter`` (None by default: the preset's maxiter) caps the polish's
    L-BFGS-B iterations and leaves the first stage's alone."""
    import botorch.optim

    from bnnbo import acquisition
    from bnnbo.space import SearchSpace
    from bnnbo.surrogates import posterior

    model = _model(S=200, m=1, dtype=torch.float32)
    assert model.polish_maxiter is posterior.POLISH_MAXITER is None
    U = torch.rand(6, 3, dtype=D, generator=torch.Generator().manual_seed(0))
    Y = model.posterior(U).mean.detach()
    space = SearchSpace.box([[0.0] * 3, [1.0] * 3])
    preset = acquisition.OptimizerPreset(num_restarts=4, raw_samples=32, maxiter=30)
    maxiters = []

    def spy(acq, **kwargs):
        maxiters.append(kwargs["options"]["maxiter"])
        return botorch.optim.optimize_acqf(acq, **kwargs)

    monkeypatch.setattr(acquisition, "optimize_acqf", spy)
    for cap in (None, 5, 100):
        model.polish_maxiter = cap
        acq = acquisition.build_acquisition(model, U, Y, mode="default", ref_point=None, seed=1, q=2)
        acquisition.optimize_acquisition(acq, space, 2, preset, "proper")
    assert maxiters == [30, 30, 30, 5, 30, 30]  # (first stage, polish) per cap; never above the preset's


def test_the_first_stage_is_not_rerun_when_a_line_search_fails(monkeypatch):
    """BoTorch reruns a search from new raw samples when any restart's L-BFGS-B stops
    abnormally; the first stage's optima are only the polish's starting points."""
    import botorch.optim

    from bnnbo import acquisition
    from bnnbo.space import SearchSpace

    model = _model(S=200, m=1, dtype=torch.float32)
    U = torch.rand(6, 3, dtype=D, generator=torch.Generator().manual_seed(0))
    Y = model.posterior(U).mean.detach()
    calls = []

    def spy(acq, **kwargs):
        calls.append(kwargs)
        return botorch.optim.optimize_acqf(acq, **kwargs)

    monkeypatch.setattr(acquisition, "optimize_acqf", spy)
    acq = acquisition.build_acquisition(model, U, Y, mode="default", ref_point=None, seed=1, q=2)
    preset = acquisition.OptimizerPreset(num_restarts=4, raw_samples=32, maxiter=20)
    acquisition.optimize_acquisition(acq, SearchSpace.box([[0.0] * 3, [1.0] * 3]), 2, preset, "proper")
    assert calls[0]["retry_on_optimization_warning"] is False


@pytest.mark.parametrize("pending", [False, True])
def test_qlognei_on_networks_evaluates_the_baseline_once_with_the_same_values_and_gradients(pending):
    """Each network's best value over the baseline does not depend on the candidates: it is
    computed once, and every evaluation runs the networks at the q candidates only."""
    from bnnbo import acquisition

    model = _model(S=40, m=1, dtype=torch.float32)
    U = torch.rand(30, 3, dtype=D, generator=torch.Generator().manual_seed(0))
    Y = model.posterior(U).mean.detach()
    acq = acquisition.build_acquisition(model, U, Y, mode="default", ref_point=None, seed=1, q=4)
    plain = qLogNoisyExpectedImprovement(model, X_baseline=U, sampler=acq.sampler, prune_baseline=True)
    assert acq.X_baseline.shape[0] > 1  # several networks' best training points survive pruning
    if pending:
        for a in (acq, plain):
            a.set_X_pending(U[:2] + 0.01)
    seen = []
    posterior = model.posterior

    def spy(X, *args, **kwargs):
        seen.append(X.shape[-2])
        return posterior(X, *args, **kwargs)

    X = torch.rand(5, 4, 3, dtype=D, requires_grad=True)
    value = plain(X)
    (grad,) = torch.autograd.grad(value.sum(), X)
    model.posterior = spy
    value_once = acq(X)
    (grad_once,) = torch.autograd.grad(value_once.sum(), X)
    acq(X.detach())
    del model.posterior
    # float32 networks: the same numbers up to the rounding of differently shaped matmuls
    torch.testing.assert_close(value_once, value, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(grad_once, grad, rtol=1e-4, atol=1e-4)
    assert seen[1:] == [4, 4]  # after the baseline's one evaluation: the candidates only
    # with observation noise in the draws the baseline's draws depend on the noise: as before
    noisy = _model(S=40, m=1, noise=True, dtype=torch.float32)
    acq = acquisition.build_acquisition(noisy, U, Y, mode="default", ref_point=None, seed=1, q=4)
    assert type(acq) is qLogNoisyExpectedImprovement


def test_the_greedy_search_builds_the_batch_point_by_point_on_a_few_networks_then_all(monkeypatch):
    """With the "sequential" preset a sample model's q-batch is built greedily: per point the
    two-stage search (q = 1) with the points chosen so far pending in both acquisitions; the
    same seed gives the same batch, and no pending points are left behind."""
    import botorch.optim

    from bnnbo import acquisition
    from bnnbo.space import SearchSpace
    from bnnbo.surrogates import posterior

    model = _model(S=200, m=1, dtype=torch.float32)
    model.greedy_polish = "point"
    U = torch.rand(6, 3, dtype=D, generator=torch.Generator().manual_seed(0))
    Y = model.posterior(U).mean.detach()
    space = SearchSpace.box([[0.0] * 3, [1.0] * 3])
    preset = acquisition.OptimizerPreset(num_restarts=4, raw_samples=32, maxiter=30, sequential=True)
    calls = []

    def spy(acq, **kwargs):
        calls.append((acq.sampler.sample_shape[0], acq.X_baseline.shape[0], kwargs))
        return botorch.optim.optimize_acqf(acq, **kwargs)

    monkeypatch.setattr(acquisition, "optimize_acqf", spy)
    batches = []
    for _ in range(2):
        torch.manual_seed(3)
        acq = acquisition.build_acquisition(model, U, Y, mode="default", ref_point=None, seed=1, q=3)
        base = acq.X_baseline.shape[0]
        batches.append(acquisition.optimize_acquisition(acq, space, 3, preset, "proper"))
        assert acq.X_baseline.shape[0] == base  # the pending points are removed again
    assert model.greedy_polish == "point" and posterior.GREEDY_POLISH == "batch"
    assert batches[0].shape == (3, 3)
    torch.testing.assert_close(batches[0], batches[1], rtol=0, atol=0)  # seeded: reproducible
    first_run = calls[: len(calls) // 2]
    assert len(first_run) == 6  # per point: the search, then the polish
    for i in range(3):
        (n1, b1, search), (n2, b2, polish) = first_run[2 * i : 2 * i + 2]
        assert (n1, search["q"], search["num_restarts"]) == (posterior.COARSE_SAMPLES, 1, 4)
        assert (n2, polish["q"]) == (posterior.ACQUISITION_SAMPLES, 1)
        assert polish["batch_initial_conditions"].shape == (posterior.POLISHED_RESTARTS, 1, 3)
        assert b1 == b2 == base + i  # the points chosen so far pending (incremental qLogNEI)
    # the points come out in the order chosen: the first is the q = 1 search's own result
    torch.manual_seed(3)
    acq = acquisition.build_acquisition(model, U, Y, mode="default", ref_point=None, seed=1, q=3)
    one = acquisition.optimize_acquisition(acq, space, 1, preset, "proper")
    torch.testing.assert_close(one[0], batches[0][0], rtol=0, atol=0)


def test_the_greedy_batch_polish_chooses_points_on_a_few_networks_then_polishes_the_batch(monkeypatch):
    """``greedy_polish = "batch"`` (the default): every point greedily on the first stage's
    networks (at most ``greedy_maxiter`` iterations), then one joint polish of the whole batch
    on all networks (at most ``greedy_polish_maxiter``), never worse than its start; seeded:
    the same batch twice."""
    import botorch.optim

    from bnnbo import acquisition
    from bnnbo.space import SearchSpace
    from bnnbo.surrogates import posterior

    model = _model(S=200, m=1, dtype=torch.float32)
    assert model.greedy_polish == "batch"  # the default greedy search
    model.greedy_maxiter, model.greedy_polish_maxiter = 7, 11
    U = torch.rand(6, 3, dtype=D, generator=torch.Generator().manual_seed(0))
    Y = model.posterior(U).mean.detach()
    space = SearchSpace.box([[0.0] * 3, [1.0] * 3])
    preset = acquisition.OptimizerPreset(num_restarts=4, raw_samples=32, maxiter=30, sequential=True)
    calls = []

    def spy(acq, **kwargs):
        calls.append((acq.sampler.sample_shape[0], acq.X_baseline.shape[0], kwargs))
        return botorch.optim.optimize_acqf(acq, **kwargs)

    monkeypatch.setattr(acquisition, "optimize_acqf", spy)
    batches = []
    for _ in range(2):
        torch.manual_seed(3)
        acq = acquisition.build_acquisition(model, U, Y, mode="default", ref_point=None, seed=1, q=3)
        base = acq.X_baseline.shape[0]
        batches.append(acquisition.optimize_acquisition(acq, space, 3, preset, "proper"))
    torch.testing.assert_close(batches[0], batches[1], rtol=0, atol=0)
    greedy, (n, b, polish) = calls[:3], calls[3]
    for i, (k, b_i, kw) in enumerate(greedy):
        assert (k, b_i, kw["q"], kw["num_restarts"], kw["options"]["maxiter"]) == (
            posterior.COARSE_SAMPLES,
            base + i,  # the points chosen so far pending
            1,
            4,
            7,
        )
    assert (n, b, polish["q"], polish["options"]["maxiter"]) == (posterior.ACQUISITION_SAMPLES, base, 3, 11)
    start = polish["batch_initial_conditions"]
    with torch.no_grad():
        assert acq(batches[0][None]) >= acq(start)


def test_which_search_a_sample_model_gets(monkeypatch):
    """hmc's and sghmc's models build q-batches greedily (round five of issue 19), ensembles
    (no first stage: 10 networks) jointly; q = 1, paper mode and models without the flag keep
    the joint search."""
    from bnnbo import acquisition
    from bnnbo.space import SearchSpace
    from bnnbo.surrogates import get_surrogate, posterior

    X = torch.rand(12, 3, dtype=D, generator=torch.Generator().manual_seed(0))
    Y = (X - 0.5).pow(2).sum(-1, keepdim=True)
    tiny = {
        "hmc": {"widths": [8], "pretrain_steps": 20, "n_chains": 2, "n_burn_in": 10, "n_samples": 10},
        "sghmc": {"widths": [8], "num_steps": 60, "n_burn_in": 20, "keep_every": 4},
        "ensemble": {"widths": [8], "n_members": 3, "train_steps": 20},
    }
    flags = {name: get_surrogate(name, **settings).fit(X, Y, seed=0).greedy_batches for name, settings in tiny.items()}
    assert flags == {"hmc": True, "sghmc": True, "ensemble": False}
    assert (posterior.GREEDY_POLISH, posterior.GREEDY_RESTARTS) == ("batch", 4)
    assert (posterior.GREEDY_MAXITER, posterior.GREEDY_POLISH_MAXITER) == (10, 20)

    searches = []
    monkeypatch.setattr(acquisition, "_optimize_greedy_two_stage", lambda *a, **k: searches.append("greedy"))
    monkeypatch.setattr(acquisition, "_optimize_two_stage", lambda *a, **k: searches.append("joint"))
    model = _model(S=200, m=1, dtype=torch.float32)
    U = torch.rand(6, 3, dtype=D, generator=torch.Generator().manual_seed(0))
    Yu = model.posterior(U).mean.detach()
    space = SearchSpace.box([[0.0] * 3, [1.0] * 3])
    preset = acquisition.OPTIMIZER_PRESETS["default"]
    for greedy, q in ((True, 3), (True, 1), (False, 3)):
        model.greedy_batches = greedy
        acq = acquisition.build_acquisition(model, U, Yu, mode="default", ref_point=None, seed=1, q=q)
        acquisition.optimize_acquisition(acq, space, q, preset, "proper")
    assert searches == ["greedy", "joint", "joint"]
    # paper mode (qEI, i.i.d. draws) has no first stage: neither of the two searches
    model.greedy_batches = True
    acq = acquisition.build_acquisition(model, U, Yu, mode="paper", ref_point=None, seed=1)
    assert acquisition._coarse_acquisition(acq) is None
