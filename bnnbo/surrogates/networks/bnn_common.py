"""Pieces shared by the finite-width BNN surrogates (HMC, SGHMC, ensemble): data in the
fitting dtype, y standardisation, Adam MAP training of stacked networks, warm-start
rescaling, and settings checks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from bnnbo.errors import SurrogateError
from bnnbo.surrogates.adam import FusedAdam
from bnnbo.surrogates.base import SettingsProblems, y_moments
from bnnbo.surrogates.networks.mlp import ACTIVATIONS, MLPSpec, dtype_of


@dataclass(frozen=True)
class FitData:
    """Training data as the networks see them."""

    X: Tensor  # N x d, fitting dtype, on the training data's device
    Y: Tensor  # N x m, standardised if asked, fitting dtype
    y_mean: Tensor  # m, float64 (zeros without standardisation)
    y_std: Tensor  # m, float64 (ones without standardisation)


def prepare(X: Tensor, Y: Tensor, standardize_y: bool, dtype: str) -> FitData:
    """Cast to the fitting dtype; z-score each output column if ``standardize_y``
    (a constant column keeps std 1 so it is only shifted)."""
    if standardize_y:
        mean, std = y_moments(Y)
    else:
        mean, std = torch.zeros_like(Y[0]), torch.ones_like(Y[0])
    dt = dtype_of(dtype)
    return FitData(X.to(dt), ((Y - mean) / std).to(dt), mean, std)


def adam_map(
    spec: MLPSpec,
    theta: Tensor,
    data: FitData,
    noise_var: float,
    prior_var: float,
    steps: int,
    lr: float,
    weights: Tensor | None = None,
) -> Tensor:
    """``steps`` full-batch Adam steps on every network's negative log posterior at once
    (``S x P`` -> ``S x P``); raises SurrogateError if the weights stop being finite."""
    theta = theta.clone()
    if steps == 0:
        return theta
    opt = FusedAdam(theta, lr=lr)
    for _ in range(steps):
        _, grad, _ = spec.potential_and_grad(theta, data.X, data.Y, noise_var, prior_var, weights, value=False)
        opt.step(grad)
    return check_finite_map(theta, lr, steps)


def check_finite_map(theta: Tensor, lr: float, steps: int) -> Tensor:
    """``theta``, or SurrogateError when a MAP training's weights stopped being finite."""
    if not torch.isfinite(theta).all():
        raise SurrogateError(f"Adam MAP training diverged (lr={lr}, {steps} steps); try a smaller lr")
    return theta


def adam(params: list[Tensor], **kwargs: Any) -> torch.optim.Adam:
    """``torch.optim.Adam``, fused where torch has the kernel: its step on one stacked weight
    tensor is faster and it skips the default's one-time set-up per process
    (docs/performance.md, "Fused Adam")."""
    fused = all(p.device.type in ("cpu", "cuda") and p.is_floating_point() for p in params)
    return torch.optim.Adam(params, fused=fused or None, **kwargs)


def rescale_outputs(spec: MLPSpec, theta: Tensor, old: tuple[Tensor, Tensor], new: tuple[Tensor, Tensor]) -> Tensor:
    """Networks trained on y standardised with ``old = (mean, std)`` -> the same functions
    in the ``new`` standardisation, by an affine change of the output layer."""
    theta = theta.clone()
    W, b = spec.unflatten(theta)[-1]
    ratio = (old[1] / new[1]).to(theta)
    W.mul_(ratio)
    b.mul_(ratio).add_(((old[0] - new[0]) / new[1]).to(theta))
    return theta


def spec_key(spec: MLPSpec) -> tuple:
    """What a warm-start state must match to be reused."""
    return (spec.d_in, tuple(spec.widths), spec.d_out, spec.activation)


def check_settings(
    owner: str,
    s: Any,
    positive: tuple[str, ...] = (),
    at_least_one: tuple[str, ...] = (),
    non_negative: tuple[str, ...] = (),
) -> None:
    """Raise one ConfigError naming every bad value among the listed fields of ``s``."""
    errors = []
    for name in positive:
        if not getattr(s, name) > 0:
            errors.append(f"setting {name!r} = {getattr(s, name)!r}; expected a number > 0")
    for name in at_least_one:
        if getattr(s, name) < 1:
            errors.append(f"setting {name!r} = {getattr(s, name)!r}; expected an integer >= 1")
    for name in non_negative:
        if getattr(s, name) < 0:
            errors.append(f"setting {name!r} = {getattr(s, name)!r}; expected an integer >= 0")
    if any(w < 1 for w in s.widths):
        errors.append(f"setting 'widths' = {list(s.widths)}; expected positive layer widths")
    if s.activation not in ACTIVATIONS:
        errors.append(f"setting 'activation' = {s.activation!r}; expected one of {ACTIVATIONS}")
    if errors:
        raise SettingsProblems(errors, owner)
    dtype_of(s.dtype)
