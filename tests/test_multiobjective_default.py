"""The multi-objective q = 1 default loop: warm-started Matern GPs, analytic LogEHVI, the
"analytic" optimiser preset started at Pareto-optimal points (issue 14, docs/performance.md)."""

import math

import pytest
import torch
from botorch.acquisition.multi_objective.analytic import ExpectedHypervolumeImprovement
from botorch.acquisition.multi_objective.logei import qLogNoisyExpectedHypervolumeImprovement
from botorch.models import ModelListGP
from botorch.utils.multi_objective.box_decompositions import FastNondominatedPartitioning
from botorch.utils.multi_objective.pareto import is_non_dominated

import bnnbo.optimizer as optimizer_module
import bnnbo.surrogates.gaussian.gp as gp_module
from bnnbo import Optimizer, get_problem, get_surrogate
from bnnbo.acquisition import OPTIMIZER_PRESETS, build_acquisition, optimize_acquisition
from bnnbo.exact_logehvi import ExactGPLogEHVI
from bnnbo.space import Float, Integer, SearchSpace


def _data(n=14, seed=0):
    g = torch.Generator().manual_seed(seed)
    X = torch.rand(n, 2, generator=g, dtype=torch.float64)
    Y = torch.stack([torch.sin(3 * X[:, 0]) + X[:, 1], torch.cos(2 * X[:, 1]) - X[:, 0] ** 2], -1)
    return X, Y


def _fit(X, Y):
    return get_surrogate("gp", warm_start=False).fit(X, Y)


def test_logehvi_equals_botorchs_analytic_ehvi_and_keeps_a_gradient_in_the_tail():
    X, Y = _data()
    model = _fit(X, Y)
    assert isinstance(model, ModelListGP)
    ref = Y.min(0).values - 0.1
    acq = ExactGPLogEHVI(model, Y, ref)
    front = Y[is_non_dominated(Y)]
    ehvi = ExpectedHypervolumeImprovement(
        model, ref_point=ref.tolist(), partitioning=FastNondominatedPartitioning(ref, front)
    )
    x = torch.rand(300, 1, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    ours, theirs = acq(x), ehvi(x)
    kept = theirs > 1e-10  # where BoTorch's (non-log) value still has digits
    assert kept.sum() > 50
    assert torch.allclose(ours[kept], theirs[kept].log(), atol=1e-6)
    # at a training point far inside the dominated region: EHVI underflows, its log does not
    worst = X[Y.sum(-1).argmin()].reshape(1, 1, 2).clone().requires_grad_(True)
    value = acq(worst)
    (grad,) = torch.autograd.grad(value.sum(), worst)
    assert math.isfinite(value.item()) and torch.isfinite(grad).all()


def test_several_objectives_q1_build_logehvi_only_for_the_default_gp():
    X, Y = _data()
    ref = Y.min(0).values
    kw = {"mode": "default", "ref_point": ref, "seed": 0}
    model = _fit(X, Y)
    assert isinstance(build_acquisition(model, X, Y, q=1, exact_gp=True, **kw), ExactGPLogEHVI)
    assert isinstance(build_acquisition(model, X, Y, q=2, exact_gp=True, **kw), qLogNoisyExpectedHypervolumeImprovement)
    assert isinstance(build_acquisition(model, X, Y, q=1, **kw), qLogNoisyExpectedHypervolumeImprovement)
    botorch_gp = get_surrogate("gp", kernel="botorch").fit(X, Y)
    assert isinstance(
        build_acquisition(botorch_gp, X, Y, q=1, exact_gp=True, **kw), qLogNoisyExpectedHypervolumeImprovement
    )


def test_optimizer_defaults_for_several_objectives():
    space = get_problem("branincurrin").space
    opt = Optimizer(space, num_objectives=2)
    s = opt.surrogate.settings
    assert (s.kernel, s.noise, s.warm_start) == (None, None, None)  # the q = 1 GP: Matern, low noise, warm
    assert opt.preset == OPTIMIZER_PRESETS["analytic"]
    # the previous loop, spelled out, keeps qLogNEHVI's preset; batches keep theirs
    before = Optimizer(space, num_objectives=2, surrogate_settings={"kernel": "botorch"})
    assert before.preset == OPTIMIZER_PRESETS["default"]
    assert Optimizer(space, num_objectives=2, q=3).surrogate.settings.kernel == "botorch"
    assert Optimizer(space, num_objectives=2, surrogate="ibnn").preset == OPTIMIZER_PRESETS["default"]


def _run(seed, steps, monkeypatch=None, calls=None, acqs=None):
    p = get_problem("branincurrin")
    if monkeypatch is not None:
        fit = gp_module.fit_matern_map

        def counting(gp, maxiter=None, ftol=None):
            calls.append(maxiter)
            return fit(gp, maxiter, ftol)

        build = optimizer_module.build_acquisition

        def recording(*args, **kwargs):
            acq = build(*args, **kwargs)
            acqs.append(type(acq))
            return acq

        monkeypatch.setattr(gp_module, "fit_matern_map", counting)
        monkeypatch.setattr(optimizer_module, "build_acquisition", recording)
    opt = Optimizer.for_problem(p, seed=seed, n_init=6)
    for _ in range(steps):
        X = opt.ask()
        opt.tell(X, p.evaluate(X))
    return opt


def test_second_ask_warm_starts_both_objectives_and_uses_logehvi(monkeypatch):
    calls, acqs = [], []
    opt = _run(3, 8, monkeypatch, calls, acqs)
    assert acqs == [ExactGPLogEHVI, ExactGPLogEHVI]
    # first model-based ask: one cold fit (no iteration cap) per objective; then warm, capped ones
    warm = opt.surrogate.settings.warm_maxiter
    assert calls == [None, None, warm, warm]
    assert isinstance(opt.surrogate_state, list) and len(opt.surrogate_state) == 2


def test_seeded_multi_objective_run_is_reproducible_and_resumes_identically():
    a, b = _run(5, 9), _run(5, 9)
    assert torch.equal(a.X, b.X)
    assert not torch.equal(a.X, _run(6, 9).X)
    part = _run(5, 8)
    resumed = Optimizer.for_problem(get_problem("branincurrin"), seed=5, n_init=6)
    resumed.restore(part.history, part.surrogate_state)
    assert torch.equal(resumed.ask(), a.X[-1:])


def test_search_from_pareto_points_never_ends_below_them():
    X, Y = _data()
    model = _fit(X, Y)
    acq = build_acquisition(model, X, Y, mode="default", ref_point=Y.min(0).values, seed=0, q=1, exact_gp=True)
    starts = X[is_non_dominated(Y)]
    torch.manual_seed(0)
    space = get_problem("branincurrin").space
    x = optimize_acquisition(acq, space, 1, OPTIMIZER_PRESETS["analytic"], "proper", incumbent=starts)
    assert x.shape == (1, 2) and ((0 <= x) & (x <= 1)).all()
    with torch.no_grad():
        assert acq(x.unsqueeze(0)) >= acq(starts.unsqueeze(-2)).max()


@pytest.mark.parametrize("objectives", [2, 3])
def test_mixed_space_multi_objective_default_proposes_valid_new_points(objectives):
    space = SearchSpace([Float("a", 0.0, 1.0), Integer("b", 0, 4), Integer("c", 0, 3)])

    def f(X):
        cols = [X[:, 0] + 0.3 * X[:, 1], -((X[:, 0] - 0.5) ** 2) - 0.2 * X[:, 2], X[:, 1] * X[:, 2] / 12]
        return torch.stack(cols[:objectives], -1)

    opt = Optimizer(space, num_objectives=objectives, seed=0, n_init=8)
    for _ in range(11):
        X = opt.ask()
        opt.tell(X, f(X))
    model_X = opt.X[8:]
    assert torch.equal(model_X[:, 1:], model_X[:, 1:].round())
    assert torch.unique(opt.X, dim=0).shape[0] == opt.X.shape[0]  # no repeats: EHVI of a seen point is ~0
