"""An outcome warp for the GP: the standardised values through a Yeo-Johnson power transform.

A GP models a smooth function with Gaussian marginals; many objectives have a long tail of
bad values (Branin's range is ~300 over a minimum of 0.4), which standardisation leaves in
place: the GP then spends its flexibility on the tail and is coarse near the best values.
The Yeo-Johnson transform (Yeo & Johnson 2000), with its exponent fitted by maximum likelihood
on the observed values as HEBO does (Cowen-Rivers et al. 2022), makes the values closer to
Gaussian. It is monotone, so the best point is the same in both scales; the GP is fitted, and
its acquisition computed, in the warped scale, and its posterior is reported in the original
units (samples through the inverse warp; means and variances by Gauss-Hermite quadrature).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from botorch.models.transforms.outcome import OutcomeTransform, Standardize
from botorch.posteriors import GPyTorchPosterior, Posterior
from botorch.posteriors.transformed import TransformedPosterior
from scipy import stats
from torch import Tensor

from bnnbo.errors import SurrogateError

#: the exponent's range: beyond it one observation can dominate the warped scale
LAMBDA_BOUNDS = (-2.0, 4.0)
#: the posterior in original units stops this many (standardised) units beyond the observed
#: values: past it a warped value may have no preimage (the transform's range is bounded on one
#: side when the exponent is below 0 or above 2)
REACH = 10.0
#: Gauss-Hermite nodes for the moments of the posterior in original units
_NODES, _WEIGHTS = np.polynomial.hermite_e.hermegauss(32)


def yeo_johnson(z: Tensor, lam: float) -> Tensor:
    """The Yeo-Johnson transform of ``z`` with exponent ``lam`` (monotone increasing)."""
    pos = z >= 0
    zp, zn = z.clamp_min(0), z.clamp_max(0)
    up = torch.log1p(zp) if abs(lam) < 1e-12 else (torch.pow(1 + zp, lam) - 1) / lam
    two = 2.0 - lam
    down = -torch.log1p(-zn) if abs(two) < 1e-12 else -(torch.pow(1 - zn, two) - 1) / two
    return torch.where(pos, up, down)


def yeo_johnson_inverse(w: Tensor, lam: float) -> Tensor:
    """The inverse of ``yeo_johnson``; values beyond the transform's range are clamped to its edge."""
    pos = w >= 0
    wp, wn = w.clamp_min(0), w.clamp_max(0)
    tiny = torch.finfo(w.dtype).tiny
    up = torch.expm1(wp) if abs(lam) < 1e-12 else torch.pow((1 + lam * wp).clamp_min(tiny), 1 / lam) - 1
    two = 2.0 - lam
    down = -torch.expm1(-wn) if abs(two) < 1e-12 else 1 - torch.pow((1 - two * wn).clamp_min(tiny), 1 / two)
    return torch.where(pos, up, down)


class YeoJohnsonStandardize(OutcomeTransform):
    """One output: standardise, Yeo-Johnson with a maximum-likelihood exponent, standardise again.

    Fitted on the training values (in training mode), fixed afterwards, like ``Standardize``.
    ``post`` is the final standardisation: the GP's targets are ``post``'s outputs."""

    def __init__(self) -> None:
        super().__init__()
        self.post = Standardize(m=1)
        self.register_buffer("center", torch.zeros(()))
        self.register_buffer("spread", torch.ones(()))
        self.register_buffer("w_range", torch.tensor([-math.inf, math.inf]))
        self.lam = 1.0

    def forward(self, Y: Tensor, Yvar: Tensor | None = None, X: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        if Yvar is not None:
            raise SurrogateError("the Yeo-Johnson output warp does not take observation variances")
        if Y.shape[-1] != 1:
            raise SurrogateError(f"the Yeo-Johnson output warp takes one output, got {Y.shape[-1]}")
        if self.training:
            y = Y.detach().reshape(-1)
            spread = y.std() if y.numel() > 1 else torch.ones((), dtype=Y.dtype)
            self.center = y.mean()
            self.spread = torch.where(spread > 0, spread, torch.ones_like(spread))
            z = (y - self.center) / self.spread
            self.lam = _fit_lambda(z.cpu().numpy())
            self.w_range = yeo_johnson(torch.stack([z.min() - REACH, z.max() + REACH]), self.lam)
        return self.post.forward(self.warp(Y), None, X)

    def warp(self, Y: Tensor | float) -> Tensor:
        """Original units -> the warped scale (before the final standardisation)."""
        Y = torch.as_tensor(Y, dtype=self.center.dtype)
        return yeo_johnson((Y - self.center) / self.spread, self.lam)

    def unwarp(self, W: Tensor) -> Tensor:
        """The warped scale -> original units, within REACH of the observed values."""
        W = W.clamp(self.w_range[0].item(), self.w_range[1].item())
        return self.center + self.spread * yeo_johnson_inverse(W, self.lam)

    def untransform(self, Y: Tensor, Yvar: Tensor | None = None, X: Tensor | None = None) -> tuple[Tensor, None]:
        if Yvar is not None:
            raise SurrogateError("the Yeo-Johnson output warp does not take observation variances")
        W, _ = self.post.untransform(Y, None, X)
        return self.unwarp(W), None

    def untransform_posterior(self, posterior: Posterior, X: Tensor | None = None) -> Posterior:
        warped = self.post.untransform_posterior(posterior, X)
        if not isinstance(warped, GPyTorchPosterior):
            raise SurrogateError("the Yeo-Johnson output warp needs a Gaussian posterior")
        return TransformedPosterior(
            warped,
            sample_transform=self.unwarp,
            mean_transform=lambda m, v: self._moments(m, v)[0],
            variance_transform=lambda m, v: self._moments(m, v)[1],
        )

    def _moments(self, mean: Tensor, var: Tensor) -> tuple[Tensor, Tensor]:
        """Mean and variance of ``unwarp(W)`` for W ~ N(mean, var), by Gauss-Hermite quadrature."""
        nodes = torch.as_tensor(_NODES, dtype=mean.dtype)
        weights = torch.as_tensor(_WEIGHTS / math.sqrt(2 * math.pi), dtype=mean.dtype)
        values = self.unwarp(mean.unsqueeze(-1) + var.clamp_min(0).sqrt().unsqueeze(-1) * nodes)
        first = (values * weights).sum(-1)
        second = ((values - first.unsqueeze(-1)).square() * weights).sum(-1)
        return first, second


def _fit_lambda(z: np.ndarray) -> float:
    """The maximum-likelihood exponent within LAMBDA_BOUNDS (1, the identity up to a shift, for
    fewer than three distinct values or a failed fit)."""
    if np.unique(z).size < 3:
        return 1.0
    try:
        lam = float(stats.yeojohnson_normmax(z, brack=None))
    except (ValueError, RuntimeError, FloatingPointError):
        return 1.0
    if not math.isfinite(lam):
        return 1.0
    return float(min(max(lam, LAMBDA_BOUNDS[0]), LAMBDA_BOUNDS[1]))
