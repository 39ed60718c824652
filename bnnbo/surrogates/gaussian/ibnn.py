"""Infinite-width Bayesian neural network (NNGP) surrogate.

The kernel of a fully connected network of ``depth`` hidden layers in the infinite-width limit:
``K^0(x, x') = var_b + var_w x.x'/d`` then, per layer, ReLU (arc-cosine) or erf updates. It is
computed iteratively, carrying the two diagonals and the cross term (cost linear in depth;
the study's recursion re-computed each level three times, cost 3^depth).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import torch
from botorch.models import SingleTaskGP
from botorch.models.model import Model
from botorch.models.transforms.outcome import Standardize
from gpytorch.constraints import Positive
from gpytorch.kernels import Kernel
from torch import Tensor

from bnnbo import paper
from bnnbo.errors import ConfigError
from bnnbo.surrogates.base import Settings, SettingsProblems, Surrogate
from bnnbo.surrogates.gaussian.gp import NoiseConstraint, fit_exact_gps, paper_likelihood

_ACOS_EPS = 1e-7


class NNGPKernel(Kernel):
    """NNGP kernel of a deep ReLU or erf network with i.i.d. N(0, var_w/fan_in), N(0, var_b) priors.

    ``var_w`` and ``var_b`` are fixed buffers unless ``learn_variances``; then they are
    positive parameters fitted with the GP's marginal likelihood.
    """

    has_lengthscale = False

    def __init__(
        self,
        depth: int = 3,
        activation: str = "relu",
        var_w: float = 10.0,
        var_b: float = 1.3,
        learn_variances: bool = False,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        if activation not in ("relu", "erf"):
            raise ConfigError(f"ibnn: activation must be 'relu' or 'erf', got {activation!r}")
        self.depth = int(depth)
        self.activation = activation
        self.learn_variances = learn_variances
        init = torch.tensor([float(var_w), float(var_b)], dtype=torch.float64)
        if learn_variances:
            self.register_parameter("raw_vars", torch.nn.Parameter(torch.zeros(2)))
            self.register_constraint("raw_vars", Positive())
            self.initialize(raw_vars=self.raw_vars_constraint.inverse_transform(init))
        else:
            self.register_buffer("fixed_vars", init)

    @property
    def variances(self) -> Tensor:
        """``(var_w, var_b)``."""
        if self.learn_variances:
            return self.raw_vars_constraint.transform(self.raw_vars)
        return self.fixed_vars

    def forward(self, x1: Tensor, x2: Tensor, diag: bool = False, **params: Any) -> Tensor:
        """``... x n1 x d``, ``... x n2 x d`` -> ``... x n1 x n2`` (or ``... x n`` if diag)."""
        var_w, var_b = self.variances.to(x1)
        d = x1.shape[-1]
        k11 = var_b + var_w * (x1 * x1).sum(-1) / d  # ... x n1
        k22 = var_b + var_w * (x2 * x2).sum(-1) / d  # ... x n2
        if diag:
            k12 = var_b + var_w * (x1 * x2).sum(-1) / d
        else:
            k12 = var_b + var_w * (x1 @ x2.transpose(-2, -1)) / d
        for _ in range(self.depth):
            k12, k11, k22 = self._layer(k12, k11, k22, var_w, var_b, diag)
        return k12

    def _layer(
        self, k12: Tensor, k11: Tensor, k22: Tensor, var_w: Tensor, var_b: Tensor, diag: bool
    ) -> tuple[Tensor, Tensor, Tensor]:
        outer = (lambda a, b: a * b) if diag else (lambda a, b: a.unsqueeze(-1) * b.unsqueeze(-2))
        if self.activation == "relu":
            norm = outer(k11, k22).sqrt()
            cos = (k12 / norm).clamp(-1 + _ACOS_EPS, 1 - _ACOS_EPS)
            theta = torch.acos(cos)
            k12 = var_b + var_w / (2 * math.pi) * norm * (torch.sin(theta) + (math.pi - theta) * cos)
            # theta = 0 on the diagonal: E[relu(u)^2] = k/2
            return k12, var_b + var_w * k11 / 2, var_b + var_w * k22 / 2
        arg = 2 * k12 / outer(1 + 2 * k11, 1 + 2 * k22).sqrt()
        k12 = var_b + 2 * var_w / math.pi * torch.asin(arg.clamp(-1.0, 1.0))
        d11 = var_b + 2 * var_w / math.pi * torch.asin(2 * k11 / (1 + 2 * k11))
        d22 = var_b + 2 * var_w / math.pi * torch.asin(2 * k22 / (1 + 2 * k22))
        return k12, d11, d22


@dataclass(frozen=True)
class IBNNSettings(Settings):
    #: hidden layers of the infinite-width network
    depth: int = 3
    #: "relu" (arc-cosine) or "erf"
    activation: Literal["relu", "erf"] = "relu"
    #: weight variance sigma_w^2 (the study: 10)
    var_w: float = 10.0
    #: bias variance sigma_b^2 (the study: 1.3 synthetic, 1.6 real-world)
    var_b: float = 1.3
    #: fit var_w and var_b by marginal likelihood instead of keeping them fixed
    learn_variances: bool = False
    #: noise prior: "paper" Gamma(1.1, 0.05) (the study) or "modern" (BoTorch's current default)
    priors: Literal["modern", "paper"] = "paper"
    #: the noise >= 1e-4 bound with the "paper" priors: "softplus" or the study's "study" (gp.py)
    noise_constraint: NoiseConstraint = "softplus"

    def __post_init__(self) -> None:
        errors = []  # every problem at once
        if self.depth < 1:
            errors.append(f"depth must be >= 1, got {self.depth}")
        if self.var_w <= 0 or self.var_b <= 0:
            errors.append(f"var_w and var_b must be > 0, got {self.var_w}, {self.var_b}")
        if errors:
            raise SettingsProblems(errors)


class IBNNSurrogate(Surrogate):
    """Exact GP with the NNGP kernel (no outputscale); fits noise and constant mean only."""

    name = "ibnn"
    Settings = IBNNSettings
    presets = paper.ibnn_presets()

    def kernel(self) -> NNGPKernel:
        s: IBNNSettings = self.settings
        return NNGPKernel(s.depth, s.activation, s.var_w, s.var_b, s.learn_variances)

    def _fit(self, X: Tensor, Y: Tensor, *, seed: int, state: Any) -> Model:
        s: IBNNSettings = self.settings

        def build(X: Tensor, y: Tensor) -> SingleTaskGP:
            lik = paper_likelihood(s.noise_constraint) if s.priors == "paper" else None
            return SingleTaskGP(
                X, y, covar_module=self.kernel().to(X), likelihood=lik, outcome_transform=Standardize(m=1)
            )

        model = fit_exact_gps(X, Y, build)
        if s.learn_variances:
            kernels = [m.covar_module for m in getattr(model, "models", [model])]
            self.diagnostics_["var_w"] = [float(k.variances[0].detach()) for k in kernels]
            self.diagnostics_["var_b"] = [float(k.variances[1].detach()) for k in kernels]
        return model
