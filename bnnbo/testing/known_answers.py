"""Known answers for surrogate tests: Bayesian linear regression in closed form.

A network with no hidden layers under a N(0, prior_var) prior on weights and bias, with a
Gaussian likelihood of known noise, is Bayesian linear regression; its posterior is exact.
"""

from __future__ import annotations

import torch
from torch import Tensor

D = torch.float64


def linear_data(seed: int, n: int = 20, noise: float = 0.3) -> tuple[Tensor, Tensor, Tensor]:
    """``n x 2`` inputs, ``n x 1`` noisy linear outputs, and 10 test points (some outside the data)."""
    g = torch.Generator().manual_seed(seed)
    X = torch.rand(n, 2, generator=g, dtype=D)
    Y = X @ torch.tensor([[1.5], [-2.0]], dtype=D) + 0.5 + noise * torch.randn(n, 1, generator=g, dtype=D)
    Xt = torch.rand(10, 2, generator=g, dtype=D) * 1.6 - 0.3
    return X, Y, Xt


def closed_form(X: Tensor, Y: Tensor, Xt: Tensor, noise: float, prior_var: float) -> tuple[Tensor, Tensor]:
    """Posterior mean and variance (each ``len(Xt)``) of ``f(Xt) = [Xt, 1] w``, ``w ~ N(0, prior_var I)``."""

    def phi(Z: Tensor) -> Tensor:
        return torch.cat([Z, torch.ones(len(Z), 1, dtype=D)], 1)

    A = phi(X).T @ phi(X) / noise**2 + torch.eye(X.shape[1] + 1, dtype=D) / prior_var
    cov = torch.linalg.inv(A)
    mean = cov @ phi(X).T @ Y / noise**2
    return (phi(Xt) @ mean).squeeze(-1), ((phi(Xt) @ cov) * phi(Xt)).sum(-1)
