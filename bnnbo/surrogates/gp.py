"""Gaussian-process surrogates built on BoTorch's SingleTaskGP (float64, y standardised)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

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


@dataclass(frozen=True)
class GPSettings(Settings):
    #: "paper": BoTorch 0.8.5 defaults (Matern-5/2 ARD, Gamma(3,6) lengthscale, Gamma(2,0.15)
    #: outputscale, Gamma(1.1,0.05) noise, noise >= 1e-4 without a transform) as in the study;
    #: "modern": current BoTorch defaults.
    priors: Priors = "modern"


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


def fit_exact_gps(X: Tensor, Y: Tensor, build) -> Model:
    """One exact GP per output column, each fitted by type-II MAP; a ModelListGP if m > 1.

    ``build(X, y)`` returns an unfitted SingleTaskGP for one ``n x 1`` output.
    """
    models = []
    for j in range(Y.shape[-1]):
        gp = build(X, Y[:, j : j + 1])
        try:
            fit_gpytorch_mll(ExactMarginalLogLikelihood(gp.likelihood, gp))
        except Exception as exc:  # botorch raises several types; report them as one
            raise SurrogateError(f"GP fit failed on output {j}: {exc}") from exc
        models.append(gp.eval())
    return models[0] if len(models) == 1 else ModelListGP(*models)


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
            return SingleTaskGP(X, y, outcome_transform=Standardize(m=1))

        return fit_exact_gps(X, Y, build)
