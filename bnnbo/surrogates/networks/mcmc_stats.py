"""Convergence diagnostics over several chains: split R-hat and effective sample size.

Both take draws as ``C x T x K`` (chains, draws per chain, scalar quantities) and return
one value per quantity, following Gelman et al. (BDA3, ch. 11) and Stan's ESS estimator
(Geyer's initial monotone sequence on the chains' averaged autocorrelations).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor


def split_rhat(x: Tensor) -> Tensor:
    """Split R-hat of ``C x T x K`` draws -> ``K`` (NaN where a quantity never moved)."""
    x = x.double()
    half = x.shape[1] // 2
    if half < 2:
        return torch.full(x.shape[2:], math.nan, dtype=torch.float64)
    halves = torch.cat([x[:, :half], x[:, half : 2 * half]], 0)
    n = halves.shape[1]
    W = halves.var(1).mean(0)
    B = n * halves.mean(1).var(0)
    var_plus = (n - 1) / n * W + B / n
    return (var_plus / W).sqrt()


def ess(x: Tensor) -> Tensor:
    """Effective sample size of ``C x T x K`` draws -> ``K`` (NaN where constant)."""
    x = x.double()
    C, T = x.shape[:2]
    if T < 4:
        return torch.full(x.shape[2:], math.nan, dtype=torch.float64)
    acov = _autocov(x)  # C x T x K
    W = (acov[:, 0] * T / (T - 1)).mean(0)
    B = T * x.mean(1).var(0) if C > 1 else torch.zeros_like(W)
    var_plus = (T - 1) / T * W + B / T
    rho = 1 - (W - acov.mean(0)) / var_plus  # T x K
    pairs = rho[: T // 2 * 2].reshape(T // 2, 2, -1).sum(1)  # Geyer's pair sums
    keep = torch.cumprod((pairs > 0).double(), 0)
    pairs = torch.cummin(pairs, 0).values  # initial monotone sequence
    tau = (-1 + 2 * (pairs * keep).sum(0)).clamp(min=1 / math.log10(C * T))
    return C * T / tau


def _autocov(x: Tensor) -> Tensor:
    """Biased autocovariance of every chain along dim 1, by FFT: ``C x T x K``."""
    T = x.shape[1]
    xc = x - x.mean(1, keepdim=True)
    f = torch.fft.rfft(xc, n=2 * T, dim=1)
    return torch.fft.irfft(f * f.conj(), n=2 * T, dim=1)[:, :T] / T


def summarise(draws: Tensor) -> dict[str, Any]:
    """JSON-able R-hat / ESS summary of ``C x T x K`` draws (e.g. the networks' outputs
    at the training inputs, which unlike weights have no permutation symmetries)."""
    rhat, n_eff = split_rhat(draws), ess(draws)
    out: dict[str, Any] = {}
    for name, v, how in (
        ("rhat_max", rhat, "max"),
        ("rhat_median", rhat, "median"),
        ("ess_min", n_eff, "min"),
        ("ess_median", n_eff, "median"),
    ):
        v = v[torch.isfinite(v)]
        out[name] = float(getattr(v, how)()) if v.numel() else None
    return out
