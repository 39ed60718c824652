"""A quadratic prior mean for the exact GP: a trend over the unit cube fitted with the kernel."""

from __future__ import annotations

import math

import torch
from gpytorch.means import Mean
from torch import Tensor


class QuadraticMean(Mean):
    """c + b . (x - 0.5) - a |x - 0.5|^2 on unit-cube inputs: a = exp(raw_curvature) >= 0 (a
    bowl whose rim is the cube's bounds), or with ``signed`` a = raw_curvature of either sign;
    the slope b only with ``linear`` (else 0)."""

    def __init__(self, d: int, signed: bool = False, linear: bool = False, curvature: float = 0.1):
        super().__init__()
        self.signed, self.linear = signed, linear
        raw = 0.0 if signed else math.log(curvature)
        self.register_parameter("constant", torch.nn.Parameter(torch.zeros((), dtype=torch.float64)))
        self.register_parameter("raw_curvature", torch.nn.Parameter(torch.tensor(raw, dtype=torch.float64)))
        if linear:
            self.register_parameter("slope", torch.nn.Parameter(torch.zeros(d, dtype=torch.float64)))

    def flat(self) -> Tensor:
        """(c, raw curvature[, b]): the fit's parameters."""
        parts = [self.constant.reshape(1), self.raw_curvature.reshape(1)]
        return torch.cat(parts + ([self.slope.reshape(-1)] if self.linear else []))

    def bounds(self, d: int) -> list[tuple[float, float]]:
        curvature = (-20.0, 20.0) if self.signed else (-9.0, 3.0)
        return [(-10.0, 10.0), curvature] + [(-20.0, 20.0)] * (d if self.linear else 0)

    def load_flat(self, t: Tensor) -> None:
        with torch.no_grad():
            self.constant.copy_(t[0])
            self.raw_curvature.copy_(t[1])
            if self.linear:
                self.slope.copy_(t[2:])

    def curvature(self, raw: Tensor | None = None) -> Tensor:
        raw = self.raw_curvature if raw is None else raw
        return raw if self.signed else raw.exp()

    def slope_or_zero(self) -> Tensor | float:
        return self.slope if self.linear else 0.0

    def evaluate(self, t: Tensor, x: Tensor) -> Tensor:
        """The mean at ``x`` under flat parameters ``t`` (differentiable in ``t``)."""
        z = x - 0.5
        out = t[0] - self.curvature(t[1]) * z.square().sum(-1)
        return out + z @ t[2:] if self.linear else out

    def forward(self, x: Tensor) -> Tensor:
        return self.evaluate(self.flat(), x)
