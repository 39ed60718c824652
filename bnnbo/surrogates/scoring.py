"""Scoring a fitted surrogate on held-out points: Gaussian NLL, RMSE and interval coverage.

The same code ranks the ``auto`` surrogate's candidates and fills ``bnnbo assess``'s tables
(``bnnbo.assess`` is a tool on top of this module). Scores use each point's Gaussian predictive
marginal (posterior mean and variance, with the model's observation noise where it has one;
sample-based posteriors are moment-matched), on y standardised by the *training* mean and
standard deviation, so numbers compare across problems:

* ``nll``: mean negative log predictive density (lower is better);
* ``rmse``: root mean squared error of the mean, in training standard deviations;
* ``coverage[p]``: fraction of test values inside the central ``p`` interval (ideal: ``p``);
* ``crps``: mean continuous ranked probability score of the Gaussian marginal, in training
  standard deviations (lower is better; unlike ``nll`` it grows linearly, not quadratically, with
  an overconfident model's error).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from botorch.models.model import Model
from torch import Tensor

from bnnbo.errors import SurrogateError
from bnnbo.space import DTYPE
from bnnbo.surrogates.base import y_moments

#: central-interval levels of the tables (``bnnbo.assess`` plots more)
LEVELS = (0.5, 0.9, 0.95)
_VAR_FLOOR = 1e-10  # standardised units: keeps an overconfident model's NLL finite, not small
_CHUNK = 256


def surrogate_name(label: str) -> str:
    """``"gp/paper"`` -> ``"gp"``: a label may carry a ``/suffix`` to tell configurations apart."""
    return label.split("/", 1)[0]


def predict(model: Model, X: Tensor) -> tuple[Tensor, Tensor]:
    """Per-point predictive mean and variance at ``n x d`` inputs: two ``n x m`` tensors."""
    means, variances = [], []
    with torch.no_grad():
        for chunk in X.split(_CHUNK):
            post = _posterior(model, chunk.unsqueeze(-2))  # n x 1 x d: marginals
            means.append(post.mean.squeeze(-2))
            variances.append(post.variance.squeeze(-2))
    return torch.cat(means), torch.cat(variances)


def _posterior(model: Model, X: Tensor):
    try:
        return model.posterior(X, observation_noise=True)
    except (NotImplementedError, TypeError, ValueError):  # models without a noise model
        return model.posterior(X)


def gaussian_scores(
    mean: Tensor, var: Tensor, Y: Tensor, center: Tensor, scale: Tensor, levels: tuple[float, ...] = LEVELS
) -> dict[str, Any]:
    """Scores of ``n x m`` predictive means/variances against ``n x m`` values, per objective.

    ``center`` and ``scale`` (``m``) standardise y. Returns lists of length ``m``:
    ``nll``, ``rmse``, ``crps`` and ``coverage`` (``{level: [m values]}``)."""
    mu, y = (mean - center) / scale, (Y - center) / scale
    var = (var / scale**2).clamp_min(_VAR_FLOOR)
    z = (y - mu) / var.sqrt()
    nll = 0.5 * (math.log(2 * math.pi) + var.log() + z**2)
    pdf = torch.exp(-0.5 * z**2) / math.sqrt(2 * math.pi)
    crps = var.sqrt() * (z * (2 * torch.special.ndtr(z) - 1) + 2 * pdf - 1 / math.sqrt(math.pi))
    cover = {}
    for p in levels:
        half = torch.special.ndtri(torch.tensor((1 + p) / 2, dtype=DTYPE))
        cover[p] = (z.abs() <= half).to(DTYPE).mean(0).tolist()
    return {
        "nll": nll.mean(0).tolist(),
        "rmse": ((y - mu) ** 2).mean(0).sqrt().tolist(),
        "crps": crps.mean(0).tolist(),
        "coverage": cover,
    }


def score(model: Model, X: Tensor, Y: Tensor, Y_train: Tensor, levels=LEVELS) -> dict[str, Any]:
    """Score a fitted model on held-out ``X``, ``Y``, standardising by ``Y_train``'s moments."""
    mean, var = predict(model, X)
    center, scale = y_moments(Y_train)
    if not (torch.isfinite(mean).all() and torch.isfinite(var).all()):
        raise SurrogateError("the model predicts NaN or infinite values on the held-out points")
    return gaussian_scores(mean, var, Y, center, scale, levels)
