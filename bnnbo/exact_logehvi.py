"""Analytic log expected hypervolume improvement for independent exact GPs (q = 1).

With one independent Gaussian per objective, the hypervolume a point adds is a sum over the
boxes of the region no observation dominates (above the reference point) of the product, over
objectives, of how far the point reaches into each box: ``prod_j clamp(y_j - l_j, 0, u_j - l_j)``.
Its expectation factorises per box and objective into ``psi_j(l_j) - psi_j(u_j)`` with
``psi(a) = E[max(Y - a, 0)] = sigma h((mu - a) / sigma)``, so EHVI is exact, with no MC samples,
and its log is a log-sum-exp over boxes of sums of ``log(psi(l) - psi(u))`` (Yang et al. 2019 for
the decomposition; the log form keeps the far tail's value and gradient, as LogEI does).

The baseline is the observed Pareto front (the objectives are treated as noiseless, as the
default GP's near-noiseless likelihood does); each objective's posterior comes from
``ExactGPLogEI``'s plain algebra, one Cholesky per objective per ask.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from botorch.acquisition.acquisition import AcquisitionFunction
from botorch.models import ModelListGP
from botorch.models.model import Model
from botorch.utils.multi_objective.box_decompositions import FastNondominatedPartitioning
from botorch.utils.multi_objective.pareto import is_non_dominated
from gpytorch.kernels import MaternKernel, ScaleKernel
from torch import Tensor

from bnnbo.exact_logei import ExactGPLogEI, _is_plain_exact_gp, log_h


def exact_logehvi_applies(model: Model) -> bool:
    """Whether ``model`` is what the default GP (``kernel="matern"``) fits for several
    objectives: a ModelListGP of plain exact GPs with a Matern-5/2 kernel under an output scale.
    Other models (BoTorch's GP, ibnn, sample models) keep qLogNEHVI."""
    models: list[Any] = list(model.models) if isinstance(model, ModelListGP) else []
    return bool(models) and all(_is_plain_exact_gp(m) and _is_matern(m) for m in models)


def _is_matern(gp: Any) -> bool:
    k = gp.covar_module
    return bool(
        type(k) is ScaleKernel
        and type(k.base_kernel) is MaternKernel
        and k.base_kernel.nu == 2.5
        and k.active_dims is None
        and k.base_kernel.active_dims is None
    )


class ExactGPLogEHVI(AcquisitionFunction):
    """log EHVI of one point over the observed Pareto front of ``Y`` (maximisation), w.r.t. ``ref_point``."""

    lower: Tensor
    upper: Tensor

    def __init__(self, model: ModelListGP, Y: Tensor, ref_point: Tensor):
        super().__init__(model=model)
        models: list[Any] = list(model.models)
        self.parts = [ExactGPLogEI(m, 0.0) for m in models]
        ref = ref_point.to(Y)
        front = Y[is_non_dominated(Y)]
        front = front[(front > ref).all(-1)]
        cells = FastNondominatedPartitioning(ref_point=ref, Y=front).get_hypercell_bounds()
        self.register_buffer("lower", cells[0])  # boxes x m, finite
        self.register_buffer("upper", cells[1])  # boxes x m, inf where the box is open
        # restarts are run in lengthscale units: the objectives' average inverse lengthscales
        inv_ls = [getattr(p, "inv_ls", None) for p in self.parts]
        if all(isinstance(v, Tensor) for v in inv_ls):
            self.inv_ls: Tensor = torch.stack(inv_ls).mean(0)  # type: ignore[arg-type]

    def forward(self, X: Tensor) -> Tensor:
        """``batch x 1 x d`` -> ``batch``."""
        if X.shape[-2] != 1:
            raise ValueError(f"analytic LogEHVI takes q = 1 points per batch, got q = {X.shape[-2]}")
        batch = X.shape[:-2]
        x = X.reshape(-1, X.shape[-1])
        ms = [p.mean_and_sigma(x) for p in self.parts]
        mean = torch.stack([m for m, _ in ms], -1).unsqueeze(-2)  # n x 1 x m
        sigma = torch.stack([s for _, s in ms], -1).unsqueeze(-2)
        log_lo = sigma.log() + log_h((mean - self.lower) / sigma)  # n x boxes x m: log psi(l)
        open_ = torch.isinf(self.upper)
        up = torch.where(open_, self.lower + 1.0, self.upper)  # any finite value; masked below
        log_up = sigma.log() + log_h((mean - up) / sigma)
        gap = (log_up - log_lo).clamp_max(-1e-12)
        log_box = log_lo + torch.where(open_, 0.0, _log1mexp(torch.where(open_, -1.0, gap)))
        return torch.logsumexp(log_box.sum(-1), -1).reshape(batch)


def _log1mexp(x: Tensor) -> Tensor:
    """log(1 - exp(x)) for x < 0, accurate at both ends."""
    return torch.where(x > -math.log(2.0), torch.log(-torch.expm1(x)), torch.log1p(-torch.exp(x)))
