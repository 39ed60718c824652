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
from botorch.models import ModelListGP
from botorch.models.model import Model
from gpytorch import settings
from linear_operator.utils.cholesky import psd_safe_cholesky
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
    plain = _plain_gps(model)
    if plain is not None:
        with torch.no_grad():
            pairs = [_exact_gp_marginals(gp, X) for gp in plain]
        return torch.stack([m for m, _ in pairs], -1), torch.stack([v for _, v in pairs], -1)
    means, variances = [], []
    with torch.no_grad():
        for chunk in X.split(_CHUNK):
            post = _posterior(model, chunk.unsqueeze(-2))  # n x 1 x d: marginals
            means.append(post.mean.squeeze(-2))
            variances.append(post.variance.squeeze(-2))
    return torch.cat(means), torch.cat(variances)


def _plain_gps(model: Model) -> list | None:
    """The single-output exact GPs a model is made of (itself, or a ModelListGP's), when every
    one is a plain SingleTaskGP; else None."""
    from bnnbo.exact_logei import _is_plain_exact_gp

    gps = list(model.models) if isinstance(model, ModelListGP) else [model]
    return gps if gps and all(_is_plain_exact_gp(gp) for gp in gps) else None


def _exact_gp_marginals(gp, X: Tensor) -> tuple[Tensor, Tensor]:
    """Predictive mean and variance (with observation noise) of a plain exact GP at ``n x d``
    points, original units: the values of ``gp.posterior(X, observation_noise=True)``'s marginals
    from one Cholesky factor, without gpytorch's per-call machinery, which dominated a prediction
    at the few points ``auto`` scores per fit (docs/auto.md, cost)."""
    train = gp.train_inputs[0]
    kernel = gp.covar_module
    noise = gp.likelihood.noise.reshape(())
    K = _dense(kernel.forward(train, train)) + noise * torch.eye(train.shape[0], dtype=train.dtype)
    L = psd_safe_cholesky(K)
    alpha = torch.cholesky_solve((gp.train_targets - gp.mean_module(train)).unsqueeze(-1), L).squeeze(-1)
    k = _dense(kernel.forward(X, train))
    prior = _dense(kernel.forward(X, X, diag=True))
    mean = gp.mean_module(X) + k @ alpha
    v = torch.linalg.solve_triangular(L, k.T, upper=False)
    var = (prior - v.square().sum(0) + noise).clamp_min(settings.min_variance.value(X.dtype))
    tf = getattr(gp, "outcome_transform", None)
    if tf is not None:  # Standardize: back to original units
        mean = tf.means.reshape(()) + tf.stdvs.reshape(()) * mean
        var = tf.stdvs.reshape(()).square() * var
    return mean, var


def _dense(K) -> Tensor:
    return K.to_dense() if hasattr(K, "to_dense") else K


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
