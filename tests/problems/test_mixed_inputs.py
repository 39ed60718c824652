"""Both rounding modes on the study's mixed problems (pest: 25 categoricals; oil: 2 continuous +
5 ordinal): candidates are always valid, and the proper mode evaluates the acquisition only at
valid points."""

import pytest
import torch
from botorch.acquisition.acquisition import AcquisitionFunction

from bnnbo import get_problem, get_surrogate, optimize
from bnnbo.acquisition import OptimizerPreset, build_acquisition, optimize_acquisition

SMALL = OptimizerPreset(num_restarts=2, raw_samples=32, maxiter=20)


class Recorder(AcquisitionFunction):
    """Passes calls through and keeps every point the acquisition was evaluated at."""

    def __init__(self, acq):
        super().__init__(model=acq.model)
        self.acq, self.seen = acq, []

    @property
    def X_baseline(self):
        return self.acq.X_baseline

    def set_X_pending(self, X_pending=None):
        self.acq.set_X_pending(X_pending)

    def forward(self, X):
        self.seen.append(X.detach().reshape(-1, X.shape[-1]).clone())
        return self.acq(X)


@pytest.fixture(scope="module", params=["pest", "oil"])
def fitted(request):
    p = get_problem(request.param)
    X = p.space.sobol(12, seed=1)
    Y, U = p.evaluate(X), p.space.to_unit(X)
    return p, U, Y, get_surrogate("gp").fit(U, Y, seed=0, state=None)


def _off_grid(space, U, encoding="centre"):
    dims = list(space.discrete_dims)
    return float((space.snap_unit(U, encoding)[..., dims] - U[..., dims]).abs().max())


@pytest.mark.parametrize("mode, rounding", [("default", "proper"), ("paper", "paper")])
def test_candidates_are_valid(fitted, mode, rounding):
    p, U, Y, model = fitted
    rec = Recorder(build_acquisition(model, U, Y, mode=mode, ref_point=p.ref_point, seed=0))
    C = optimize_acquisition(rec, p.space, 2, SMALL, rounding)
    encoding = "paper" if rounding == "paper" else "centre"  # the paper mode's is the study's
    assert C.shape == (2, p.dim) and _off_grid(p.space, C, encoding) == 0.0
    X = p.space.from_unit(C, encoding)
    assert torch.equal(X[:, list(p.space.discrete_dims)], X[:, list(p.space.discrete_dims)].round())
    seen = torch.cat(rec.seen)
    if rounding == "proper":
        assert _off_grid(p.space, seen) == 0.0  # never between levels
    else:
        assert _off_grid(p.space, seen, encoding) > 0.0  # the paper mode optimises the relaxation


def test_level_indexed_baseline_is_in_index_units(fitted):
    from bnnbo.acquisition import _LevelIndexed

    p, U, Y, model = fitted
    acq = build_acquisition(model, U, Y, mode="default", ref_point=p.ref_point, seed=0)
    wrapped = _LevelIndexed(acq, p.space.discrete_dims)
    base = wrapped.X_baseline  # the mixed optimiser sprays start points around these
    dims = list(p.space.discrete_dims)
    assert torch.allclose(base[:, dims], base[:, dims].round(), atol=1e-9)
    assert torch.allclose(wrapped.to_unit(base), acq.X_baseline)


@pytest.mark.parametrize("name", ["pest", "oil"])
@pytest.mark.parametrize("acquisition", ["default", "paper"])
def test_short_bo_run_with_gp(name, acquisition):
    res = optimize(name, surrogate="gp", budget=8, n_init=6, q=2, seed=0, acquisition=acquisition, acq_optimizer=SMALL)
    p = get_problem(name)
    assert res.Y.shape == (8, p.num_objectives)
    assert torch.equal(p.evaluate(res.X), res.Y)  # every proposal is a valid, evaluable point
