"""Gaussian-process surrogates built on BoTorch's SingleTaskGP (float64, y standardised)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import torch
from botorch.fit import fit_gpytorch_mll
from botorch.models import ModelListGP, SingleTaskGP
from botorch.models.model import Model
from botorch.models.transforms.outcome import Standardize
from gpytorch.constraints import GreaterThan
from gpytorch.kernels import Kernel, MaternKernel, ScaleKernel
from gpytorch.likelihoods import GaussianLikelihood
from gpytorch.mlls import ExactMarginalLogLikelihood
from gpytorch.priors import GammaPrior
from torch import Tensor

from bnnbo import paper
from bnnbo.errors import SurrogateError
from bnnbo.surrogates.base import Settings, Surrogate

Priors = Literal["modern", "paper"]
Noise = Literal["learned", "low", "fixed"]

#: the noise model when the user names none (modern priors); why "low" is not the default:
#: docs/performance.md (default loop against Optuna's GPSampler)
DEFAULT_NOISE: Noise = "learned"


@dataclass(frozen=True)
class GPSettings(Settings):
    #: "paper": BoTorch 0.8.5 defaults (Matern-5/2 ARD, Gamma(3,6) lengthscale, Gamma(2,0.15)
    #: outputscale, Gamma(1.1,0.05) noise, noise >= 1e-4 without a transform) as in the study;
    #: "modern": current BoTorch defaults.
    priors: Priors = "modern"
    #: observation noise (variance of the standardised outputs), modern priors only:
    #: "learned": BoTorch's LogNormal(-4, 1) prior, noise >= 1e-4; "low": learned under a prior
    #: for (nearly) deterministic objectives, Gamma(1.1, 30), noise >= 1e-6; "fixed": held at
    #: ``fixed_noise``. None: DEFAULT_NOISE (modern) or the study's likelihood (paper).
    noise: Noise | None = None
    fixed_noise: float = 1e-6
    #: start the hyperparameters from the previous fit of the same run (modern priors only;
    #: None: on for modern priors, off for the study's)
    warm_start: bool | None = None
    #: L-BFGS-B iterations of a warm-started fit (its start is the previous optimum, moved by
    #: one new point; a cold fit runs to convergence)
    warm_maxiter: int = 5

    def __post_init__(self) -> None:
        if self.priors == "paper" and (self.noise is not None or self.warm_start):
            raise ValueError(
                f"noise={self.noise!r} / warm_start={self.warm_start!r} apply to priors='modern'; "
                "priors='paper' uses the study's likelihood and a cold fit"
            )
        if self.warm_maxiter < 1:
            raise ValueError(f"warm_maxiter must be >= 1, got {self.warm_maxiter!r}")
        if not 0.0 < self.fixed_noise < 1.0:
            raise ValueError(f"fixed_noise must be in (0, 1) (standardised units), got {self.fixed_noise!r}")


#: how the noise >= 1e-4 bound is kept: "softplus" (gpytorch's default transform) or "study"
#: (BoTorch 0.8.5's ``GreaterThan(1e-4, transform=None)``: the raw value is the noise and the
#: bound goes to the optimiser, L-BFGS-B's box; Adam ignores it)
NoiseConstraint = Literal["softplus", "study"]


def paper_likelihood(constraint: NoiseConstraint = "softplus") -> GaussianLikelihood:
    """The study's likelihood: Gamma(1.1, 0.05) noise prior, noise >= 1e-4, started at the prior mode."""
    prior = GammaPrior(1.1, 0.05)
    bound = GreaterThan(1e-4, transform=None) if constraint == "study" else GreaterThan(1e-4)
    lik = GaussianLikelihood(noise_prior=prior, noise_constraint=bound)
    lik.noise = (prior.concentration - 1) / prior.rate
    return lik


def paper_kernel(d: int) -> Kernel:
    """Matern-5/2 ARD with Gamma(3, 6) lengthscales under a Gamma(2, 0.15) outputscale."""
    base = MaternKernel(nu=2.5, ard_num_dims=d, lengthscale_prior=GammaPrior(3.0, 6.0))
    return ScaleKernel(base, outputscale_prior=GammaPrior(2.0, 0.15))


def low_noise_likelihood() -> GaussianLikelihood:
    """Learned noise under a prior that lets a deterministic objective be interpolated."""
    prior = GammaPrior(1.1, 30.0)
    lik = GaussianLikelihood(noise_prior=prior, noise_constraint=GreaterThan(1e-6))
    lik.noise = 1e-3
    return lik


def fixed_noise_likelihood(noise: float) -> GaussianLikelihood:
    lik = GaussianLikelihood(noise_constraint=GreaterThan(noise / 10))
    lik.noise = noise
    lik.noise_covar.raw_noise.requires_grad_(False)  # fit_gpytorch_mll leaves it alone
    return lik


def hyperparameters(model: Model) -> list[dict[str, Tensor]]:
    """The trainable raw hyperparameters of each output's GP (a warm start for the next fit)."""
    models = model.models if isinstance(model, ModelListGP) else [model]
    return [{k: v.detach().clone() for k, v in m.named_parameters() if v.requires_grad} for m in models]


def fit_exact_gps(
    X: Tensor, Y: Tensor, build, start: list[dict[str, Tensor]] | None = None, warm_maxiter: int = 5,
) -> Model:
    """One exact GP per output column, each fitted by type-II MAP; a ModelListGP if m > 1.

    ``build(X, y)`` returns an unfitted SingleTaskGP for one ``n x 1`` output; ``start`` (from
    ``hyperparameters``) sets its initial hyperparameters where names and shapes match, and
    then the fit runs at most ``warm_maxiter`` L-BFGS-B iterations.
    """
    models = []
    for j in range(Y.shape[-1]):
        gp = build(X, Y[:, j : j + 1])
        warm = start is not None and len(start) == Y.shape[-1] and _load_matching(gp, start[j])
        options = {"optimizer_kwargs": {"options": {"maxiter": warm_maxiter}}} if warm else {}
        try:
            fit_gpytorch_mll(ExactMarginalLogLikelihood(gp.likelihood, gp), **options)
        except Exception as exc:  # botorch raises several types; report them as one
            raise SurrogateError(f"GP fit failed on output {j}: {exc}") from exc
        models.append(gp.eval())
    return models[0] if len(models) == 1 else ModelListGP(*models)


def _load_matching(gp: SingleTaskGP, values: dict[str, Tensor]) -> bool:
    """Copy the values whose names and shapes match; True if every trainable one was set."""
    own = {k: v for k, v in gp.named_parameters() if v.requires_grad}
    if set(own) != set(values) or any(own[k].shape != v.shape for k, v in values.items()):
        return False
    with torch.no_grad():
        for k, v in values.items():
            own[k].copy_(v)
    return True


class GPSurrogate(Surrogate):
    """BoTorch SingleTaskGP with Standardize(m=1); one GP per objective."""

    name = "gp"
    Settings = GPSettings
    presets = paper.gp_presets()

    def _fit(self, X: Tensor, Y: Tensor, *, seed: int, state: Any) -> Model:
        s: GPSettings = self.settings

        def build(X: Tensor, y: Tensor) -> SingleTaskGP:
            if s.priors == "paper":
                return SingleTaskGP(
                    X, y, covar_module=paper_kernel(X.shape[-1]),
                    likelihood=paper_likelihood("study"), outcome_transform=Standardize(m=1),
                )
            noise = s.noise or DEFAULT_NOISE
            if noise == "learned":
                return SingleTaskGP(X, y, outcome_transform=Standardize(m=1))
            lik = low_noise_likelihood() if noise == "low" else fixed_noise_likelihood(s.fixed_noise)
            return SingleTaskGP(X, y, likelihood=lik, outcome_transform=Standardize(m=1))

        warm = s.priors == "modern" and s.warm_start is not False
        start = state if warm and _is_hyperparameters(state) else None
        model = fit_exact_gps(X, Y, build, start, s.warm_maxiter)
        self.state_ = hyperparameters(model) if warm else None
        return model


def _is_hyperparameters(state: Any) -> bool:
    return isinstance(state, list) and all(
        isinstance(d, dict) and all(isinstance(v, Tensor) for v in d.values()) for d in state
    )
