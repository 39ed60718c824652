"""The shared surrogate conformance suite: every registered surrogate must pass it.

Use from tests as ``check_surrogate(make)`` where ``make()`` returns a fresh, configured
Surrogate (cheap settings are fine). Each check raises AssertionError with a clear message.
"""

from __future__ import annotations

import math
from typing import Callable

import torch
from botorch.models.model import Model

from bnnbo.surrogates.base import Surrogate

Factory = Callable[[], Surrogate]


def toy_data(n: int = 12, d: int = 3, m: int = 1, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """``n x d`` unit inputs and ``n x m`` smooth outputs with distinct scales per output."""
    g = torch.Generator().manual_seed(seed)
    X = torch.rand(n, d, generator=g, dtype=torch.float64)
    cols = [
        torch.sin(3 * X @ torch.linspace(1, 2, d, dtype=torch.float64) + j) * (1 + 4 * j) + 10 * j for j in range(m)
    ]
    return X, torch.stack(cols, -1)


def check_shapes(make: Factory, m: int = 1) -> None:
    """``posterior(batch x q x d).rsample(s)`` is ``s x batch x q x m``; mean/variance ``batch x q x m``."""
    X, Y = toy_data(m=m)
    model = make().fit(X, Y, seed=0)
    assert isinstance(model, Model), f"fit returned {type(model).__name__}, expected a botorch Model"
    assert model.num_outputs == m, f"model.num_outputs = {model.num_outputs}, expected {m}"
    for shape in [(5, 1, 3), (4, 2, 3), (2, 3, 4, 3), (7, 3)]:
        Xt = torch.rand(*shape, dtype=torch.float64)
        post = model.posterior(Xt)
        s = post.rsample(torch.Size([6]))
        expected = (6, *shape[:-1], m)
        assert tuple(s.shape) == expected, f"rsample for X {shape}: {tuple(s.shape)}, expected {expected}"
        assert tuple(post.mean.shape) == expected[1:], f"mean for X {shape}: {tuple(post.mean.shape)}"
        assert tuple(post.variance.shape) == expected[1:], f"variance for X {shape}: {tuple(post.variance.shape)}"
        assert torch.isfinite(s).all(), "posterior samples contain NaN/inf"
        assert (post.variance >= 0).all(), "negative posterior variance"


def check_gradients(make: Factory, m: int = 1) -> None:
    """Samples are differentiable in X with finite, non-zero gradients."""
    X, Y = toy_data(m=m)
    model = make().fit(X, Y, seed=0)
    Xt = torch.rand(3, 2, X.shape[-1], dtype=torch.float64, requires_grad=True)
    model.posterior(Xt).rsample(torch.Size([8])).sum().backward()
    assert Xt.grad is not None, "no gradient reached X"
    assert torch.isfinite(Xt.grad).all(), "gradient w.r.t. X is not finite"
    assert Xt.grad.abs().sum() > 0, "gradient w.r.t. X is identically zero"


def check_determinism(make: Factory, m: int = 1) -> None:
    """The same seed gives the same fit and the same (seeded) posterior samples."""
    X, Y = toy_data(m=m)
    Xt = torch.rand(4, 1, X.shape[-1], dtype=torch.float64)
    outs = []
    for _ in range(2):
        model = make().fit(X, Y, seed=123)
        torch.manual_seed(7)
        post = model.posterior(Xt)
        outs.append((post.mean.detach(), post.rsample(torch.Size([5])).detach()))
    assert torch.equal(outs[0][0], outs[1][0]), "same seed gave different posterior means"
    assert torch.equal(outs[0][1], outs[1][1]), "same seed gave different posterior samples"


def check_fits_data(make: Factory) -> None:
    """The posterior mean at the training points explains the data better than a constant."""
    X, Y = toy_data(n=24, d=2)
    model = make().fit(X, Y, seed=0)
    with torch.no_grad():
        mean = model.posterior(X).mean
    resid = ((mean - Y) ** 2).mean()
    assert resid < 0.5 * Y.var(), f"training MSE {resid:.3g} is not below half the variance {Y.var():.3g}"


def check_state(make: Factory) -> None:
    """``state_`` is tensors and plain data (bnnbo.statefile) and survives the store: a fit
    continued from the decoded state equals one continued from the state itself."""
    from bnnbo.statefile import decode, encode

    X, Y = toy_data()
    first = make()
    first.fit(X[:-2], Y[:-2], seed=1)
    state = first.state_
    blob = encode(state)
    _assert_same_tree(decode(blob), state, "state_")
    Xt = torch.rand(4, X.shape[-1], dtype=torch.float64)
    means = []
    for s in (state, decode(blob)):
        torch.manual_seed(3)
        model = make().fit(X, Y, seed=2, state=s)
        with torch.no_grad():
            means.append(model.posterior(Xt).mean)
    assert torch.equal(means[0], means[1]), "a fit continued from the stored state differs"


def _assert_same_tree(a, b, where: str) -> None:
    assert type(a) is type(b) or (isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor)), (
        f"{where}: {type(a).__name__} came back as {type(b).__name__}"
    )
    if isinstance(a, torch.Tensor):
        assert a.dtype == b.dtype and torch.equal(a, b), f"{where}: tensor changed"
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), f"{where}: keys changed"
        for k in a:
            _assert_same_tree(a[k], b[k], f"{where}[{k!r}]")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), f"{where}: length changed"
        for i, (x, y) in enumerate(zip(a, b)):
            _assert_same_tree(x, y, f"{where}[{i}]")
    else:
        both_nan = isinstance(a, float) and math.isnan(a) and math.isnan(b)
        assert a == b or both_nan, f"{where}: {b!r} came back as {a!r}"


def check_surrogate(make: Factory) -> None:
    """Run every check, single- and multi-output."""
    for m in (1, 2):
        check_shapes(make, m)
        check_gradients(make, m)
        check_determinism(make, m)
    check_fits_data(make)
    check_state(make)
