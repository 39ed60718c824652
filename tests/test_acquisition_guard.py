"""The acquisition search survives non-finite gradients: a restart whose gradient is NaN (as
eigh's backward gives at a rank-deficient posterior covariance, which failed a paper-mode
I-BNN run on dtlz1 in the campaign) stops where it is instead of failing the search."""

import pytest
import torch
from botorch.acquisition.acquisition import AcquisitionFunction
from botorch.exceptions.errors import OptimizationGradientError
from botorch.optim import optimize_acqf

from bnnbo.acquisition import OPTIMIZER_PRESETS, _finite_gradients, optimize_acquisition
from bnnbo.space import SearchSpace


class NaNGradientAcquisition(AcquisitionFunction):
    """-||X - 0.3||^2 per batch plus 0 * sqrt(0): a finite value whose gradient has a NaN in
    the first coordinate of every point."""

    def __init__(self):
        torch.nn.Module.__init__(self)
        self.model = None  # no surrogate: the plain (one-stage) search

    def forward(self, X):
        trap = torch.sqrt(X[..., 0] * 0.0).sum(-1) * 0.0
        return -((X - 0.3) ** 2).sum((-1, -2)) + trap


@pytest.mark.parametrize("preset", ["paper", "default"])
def test_a_restart_with_non_finite_gradients_stops_instead_of_failing_the_search(preset):
    acq, bounds = NaNGradientAcquisition(), torch.tensor([[0.0] * 3, [1.0] * 3], dtype=torch.float64)
    torch.manual_seed(0)
    with pytest.raises(OptimizationGradientError):  # what BoTorch does on its own
        optimize_acqf(acq, bounds=bounds, q=2, num_restarts=2, raw_samples=16)
    torch.manual_seed(0)
    x = optimize_acquisition(acq, SearchSpace.box(bounds), 2, OPTIMIZER_PRESETS[preset], "proper")
    assert x.shape == (2, 3) and torch.isfinite(x).all()
    # the finite coordinates still move to the optimum; the poisoned one keeps its start
    assert torch.allclose(x[:, 1:], torch.full((2, 2), 0.3, dtype=x.dtype), atol=0.05)
    assert not acq._forward_pre_hooks  # the guard is removed after the search


def test_the_gradient_guard_is_the_identity_on_finite_gradients():
    X = torch.rand(4, 2, 3, dtype=torch.float64, requires_grad=True)

    def f(Z):
        return (torch.sin(3 * Z) * Z).sum()

    (g0,) = torch.autograd.grad(f(X), X)
    (g1,) = torch.autograd.grad(f(_finite_gradients(None, (X,))[0]), X)
    assert torch.equal(g0, g1)


def test_a_stale_kernel_build_lock_is_removed_and_a_live_one_kept(tmp_path, monkeypatch):
    """A process stopped while torch builds BoTorch's qLogEHVI kernel leaves a lock file that
    made every later qLogNEHVI wait forever (found when the campaign was interrupted)."""
    import os
    import subprocess
    import sys
    import time

    from bnnbo.acquisition import STALE_LOCK_SECONDS, clear_stale_build_lock

    monkeypatch.setenv("TORCH_EXTENSIONS_DIR", str(tmp_path))
    build = tmp_path / "logei_fused_ext"
    build.mkdir()
    lock = build / "lock"
    assert clear_stale_build_lock() is False  # no lock
    lock.touch()
    assert clear_stale_build_lock() is False and lock.exists()  # fresh: a build may hold it
    old = time.time() - 2 * STALE_LOCK_SECONDS
    os.utime(lock, (old, old))
    builder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], cwd=build)
    try:
        time.sleep(0.5)
        assert clear_stale_build_lock() is False and lock.exists()  # a process works there
    finally:
        builder.kill()
        builder.wait()
    with pytest.warns(UserWarning, match="stale build lock"):
        assert clear_stale_build_lock() is True
    assert not lock.exists()
