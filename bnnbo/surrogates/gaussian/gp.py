"""Gaussian-process surrogates built on BoTorch's SingleTaskGP (float64, y standardised)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import torch
from botorch.fit import fit_gpytorch_mll
from botorch.models import ModelListGP, SingleTaskGP
from botorch.models.model import Model
from botorch.models.transforms.outcome import Standardize
from botorch.models.utils.gpytorch_modules import get_gaussian_likelihood_with_lognormal_prior as botorch_likelihood
from gpytorch.constraints import GreaterThan
from gpytorch.kernels import Kernel, MaternKernel, ScaleKernel
from gpytorch.likelihoods import GaussianLikelihood
from gpytorch.means import ConstantMean, ZeroMean
from gpytorch.mlls import ExactMarginalLogLikelihood
from gpytorch.priors import GammaPrior, LogNormalPrior, Prior
from linear_operator.utils.cholesky import psd_safe_cholesky
from scipy.optimize import minimize
from torch import Tensor
from torch.distributions import constraints

from bnnbo import paper
from bnnbo.errors import ConfigError, SurrogateError
from bnnbo.surrogates.base import Settings, Surrogate
from bnnbo.gp_mean import QuadraticMean
from bnnbo.output_warp import YeoJohnsonStandardize

Priors = Literal["modern", "paper"]
Noise = Literal["learned", "low", "fixed"]
Kernel_ = Literal["matern", "botorch"]
Mean = Literal["constant", "zero", "worst", "quadratic", "quadratic-signed", "quadratic-linear"]
LengthscalePrior = Literal["lognormal", "inverse-square", "sqrt-d6", "sqrt-d10", "hvarfner"]
OutputWarp = Literal["none", "yeo-johnson", "auto"]

#: the noise model when the user names none (modern priors); the measurement behind it:
#: docs/performance.md (default loop against Optuna's GPSampler)
DEFAULT_NOISE: Noise = "low"
#: noise="low"'s lower bound, and the noise noise="fixed" holds unless told (standardised units)
LOW_NOISE_FLOOR = 1e-6
FIXED_NOISE = 1e-6
#: Standardize's smallest spread (BoTorch's default 1e-8 leaves a smaller one unscaled: values
#: that vary by 1e-10 would look like noise under the 1e-6 floor); only constant data stay as they are
MIN_SPREAD = torch.finfo(torch.float64).tiny
DEFAULT_KERNEL: Kernel_ = "matern"
DEFAULT_MEAN: Mean = "constant"
MEANS: tuple[str, ...] = ("constant", "zero", "worst", "quadratic", "quadratic-signed", "quadratic-linear")
#: mode max(1, sqrt(d / 6)): rounds 2-4's LogNormal(1, 1) up to 6 inputs, growing like sqrt(d)
#: above (docs/performance.md, issue 20 round 5)
DEFAULT_LENGTHSCALE_PRIOR: LengthscalePrior = "sqrt-d6"
LENGTHSCALE_PRIORS: tuple[str, ...] = ("lognormal", "inverse-square", "sqrt-d6", "sqrt-d10", "hvarfner")
#: the "low" noise a cold fit starts from (standardised units)
DEFAULT_INITIAL_NOISE = 1e-3
#: the output warp of the Matern GP with one objective when the user names none; the q = 1
#: loop's default is ``bnnbo.optimizer.DEFAULT_LOOP_OUTPUT_WARP``
DEFAULT_OUTPUT_WARP: OutputWarp = "none"


#: settings only the Matern GP (``kernel="matern"``) has, each with the values that leave it as
#: if unset: BoTorch's GP (``kernel="botorch"``) refuses the others
MATERN_ONLY: dict[str, tuple[Any, ...]] = {
    "mean": (None, "constant"),
    "lengthscale_prior": (None,),
    "initial_noise": (None,),
    "warm_ftol": (None,),
    "hyper_samples": (1,),
    "stall_starts": (0,),
}


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
    fixed_noise: float = FIXED_NOISE
    #: modern priors only. "matern": Matern-5/2 ARD times an output scale, lengthscale prior
    #: LogNormal with its mode at max(1, sqrt(d / 6)) (the unit cube's width up to 6 inputs,
    #: growing like sqrt(d) above; ``lengthscale_prior``), output scale Gamma(2, 1), fitted
    #: by scipy's L-BFGS-B on a plain-algebra marginal likelihood; "botorch": BoTorch's
    #: SingleTaskGP defaults (RBF, dimension-scaled LogNormal lengthscale prior, fit_gpytorch_mll).
    #: None: DEFAULT_KERNEL
    kernel: Kernel_ | None = None
    #: start the hyperparameters from the previous fit of the same run (modern priors only;
    #: None: on for modern priors, off for the study's)
    warm_start: bool | None = None
    #: L-BFGS-B iterations of a warm-started fit (its start is the previous optimum, moved by
    #: one new point; a cold fit runs to convergence)
    warm_maxiter: int = 5
    #: kernel="matern" only: a warm fit also stops once L-BFGS-B's objective changes by less than
    #: this fraction in one iteration (scipy's ``ftol``; None: scipy's default)
    warm_ftol: float | None = None
    #: kernel="matern" only. The prior mean: "constant" (learned, BoTorch's), "zero" (the
    #: standardised outputs' average), "quadratic": c - a |x - 0.5|^2 over the unit cube with c
    #: and a >= 0 fitted with the kernel (a bowl: the bounds a priori worse than the centre,
    #: against boundary over-exploration), "quadratic-signed": a of either sign (a bowl or a
    #: dome), "quadratic-linear": signed, plus a fitted slope b . (x - 0.5); "worst": a constant
    #: held at the worst observed (transformed) value, not fitted, so that points far from the
    #: data look bad a priori (De Ath et al. 2020, "What do you mean?"). The quadratics favour optima
    #: near the centre and cost runs whose optimum is off it (docs/performance.md, issue 20
    #: round 10). None: DEFAULT_MEAN
    mean: Mean | None = None
    #: kernel="matern" only. "lognormal": LogNormal(1, 1) on each lengthscale (mode 1);
    #: "sqrt-d6" / "sqrt-d10": LogNormal(1 + log(max(1, d / d0)) / 2, 1), mode max(1, sqrt(d / d0))
    #: with d0 = 6 / 10 (the same as "lognormal" up to d0 inputs, growing like sqrt(d) above);
    #: "hvarfner": LogNormal(sqrt(2) + log(d) / 2, sqrt(3)) (Hvarfner et al. 2024, BoTorch's);
    #: "inverse-square": log p = -(0.1 / t + 0.1 t) on t = lengthscale^-2 (Optuna's GPSampler's).
    #: None: DEFAULT_LENGTHSCALE_PRIOR
    lengthscale_prior: LengthscalePrior | None = None
    #: kernel="matern", noise="low" only: the noise a cold fit starts from. None: DEFAULT_INITIAL_NOISE
    initial_noise: float | None = None
    #: kernel="matern", one objective: keep this many samples of the hyperparameters' posterior
    #: (slice-sampling chains carried from fit to fit) and integrate LogEI over them (Snoek et
    #: al. 2012); 1: the MAP fit alone. The model's predictions stay the MAP fit's.
    hyper_samples: int = 1
    #: kernel="matern", one objective: when the best observation is at least ``stall_after``
    #: evaluations old, refit cold from this many starts (the priors' modes and random ones)
    #: as well and keep the highest-posterior fit of those and the usual one; 0: off
    stall_starts: int = 0
    stall_after: int = 5
    #: kernel="matern", one objective: "yeo-johnson" fits the GP to the standardised values
    #: through a Yeo-Johnson power transform with a maximum-likelihood exponent (HEBO's output
    #: warp; ``bnnbo.output_warp``): LogEI is computed in the warped scale, the
    #: posterior is reported in original units. "none": standardised values. "auto":
    #: "yeo-johnson" once there are more points than inputs, "none" before (in 200 dimensions
    #: with 20-40 points the warp lost: docs/performance.md, issue 20 round 8). None: DEFAULT_OUTPUT_WARP
    output_warp: OutputWarp | None = None

    added: ClassVar[dict[str, Any]] = {"hyper_samples": 1, "stall_starts": 0, "stall_after": 5}

    def __post_init__(self) -> None:
        if self.priors == "paper" and (self.noise is not None or self.warm_start):
            raise ConfigError(
                f"noise={self.noise!r} / warm_start={self.warm_start!r} apply to priors='modern'; "
                "priors='paper' uses the study's likelihood and a cold fit"
            )
        if self.priors == "paper" and self.kernel is not None:
            raise ConfigError(
                f"kernel={self.kernel!r} applies to priors='modern'; priors='paper' uses the study's kernel"
            )
        if self.warm_maxiter < 1:
            raise ConfigError(f"warm_maxiter must be >= 1, got {self.warm_maxiter!r}")
        if self.warm_ftol is not None and not 0.0 < self.warm_ftol < 1.0:
            raise ConfigError(f"warm_ftol must be in (0, 1), got {self.warm_ftol!r}")
        if (
            self.priors == "paper"
            and (self.mean, self.lengthscale_prior, self.initial_noise, self.warm_ftol) != (None,) * 4
        ):
            raise ConfigError(
                f"mean={self.mean!r} / lengthscale_prior={self.lengthscale_prior!r} / "
                f"initial_noise={self.initial_noise!r} / warm_ftol={self.warm_ftol!r} apply to priors='modern'; "
                "priors='paper' uses the study's GP"
            )
        if self.mean not in (None, *MEANS):
            raise ConfigError(f"mean must be one of {MEANS}, got {self.mean!r}")
        if (str(self.mean).startswith("quadratic") or self.mean == "worst") and (
            self.hyper_samples != 1 or self.stall_starts
        ):
            raise ConfigError(f"mean={self.mean!r} takes hyper_samples=1 and stall_starts=0")
        if self.lengthscale_prior not in (None, *LENGTHSCALE_PRIORS):
            raise ConfigError(f"lengthscale_prior must be one of {LENGTHSCALE_PRIORS}, got {self.lengthscale_prior!r}")
        if self.initial_noise is not None and not LOW_NOISE_FLOOR < self.initial_noise <= 10.0:
            raise ConfigError(
                f"initial_noise must be in ({LOW_NOISE_FLOOR:g}, 10] (standardised units; above the floor of "
                f"noise='low'), got {self.initial_noise!r}"
            )
        if self.initial_noise is not None and (self.noise or DEFAULT_NOISE) != "low":
            raise ConfigError(
                f"initial_noise={self.initial_noise!r} is where noise='low' starts; got noise={self.noise!r}"
            )
        if not 0 <= self.stall_starts <= 32 or self.stall_after < 1:
            raise ConfigError(
                f"stall_starts must be in [0, 32] and stall_after >= 1, got {self.stall_starts!r}, {self.stall_after!r}"
            )
        if self.priors == "paper" and self.stall_starts:
            raise ConfigError("stall_starts applies to priors='modern'; priors='paper' uses the study's GP")
        if not 1 <= self.hyper_samples <= 64:
            raise ConfigError(f"hyper_samples must be in [1, 64], got {self.hyper_samples!r}")
        if self.priors == "paper" and self.hyper_samples != 1:
            raise ConfigError("hyper_samples applies to priors='modern'; priors='paper' uses the study's GP")
        if self.kernel == "botorch" and (
            given := [f"{k}={getattr(self, k)!r}" for k, off in MATERN_ONLY.items() if getattr(self, k) not in off]
        ):
            raise ConfigError(f"{', '.join(given)} apply to the Matern GP (kernel 'matern'); got kernel='botorch'")
        if self.output_warp in ("yeo-johnson", "auto") and (self.priors == "paper" or self.kernel == "botorch"):
            raise ConfigError(
                f"output_warp={self.output_warp!r} applies to the Matern GP (priors='modern', kernel 'matern'); "
                f"got priors={self.priors!r}, kernel={self.kernel!r}"
            )
        if not 0.0 < self.fixed_noise < 1.0:
            raise ConfigError(f"fixed_noise must be in (0, 1) (standardised units), got {self.fixed_noise!r}")
        if self.fixed_noise != FIXED_NOISE and self.noise != "fixed":
            raise ConfigError(
                f"fixed_noise={self.fixed_noise!r} is the noise that noise='fixed' holds; got noise={self.noise!r}"
            )


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


def low_noise_likelihood(initial: float | None = None) -> GaussianLikelihood:
    """Learned noise under a prior that lets a deterministic objective be interpolated."""
    prior = GammaPrior(1.1, 30.0)
    lik = GaussianLikelihood(noise_prior=prior, noise_constraint=GreaterThan(LOW_NOISE_FLOOR))
    lik.noise = DEFAULT_INITIAL_NOISE if initial is None else initial
    return lik


class InverseSquaredLengthscalePrior(Prior):
    """Unnormalised log p = -(0.1 / t + 0.1 t) on t = lengthscale^-2 (largest at lengthscale 1),
    Optuna's GPSampler's lengthscale prior, as a function of the lengthscale."""

    arg_constraints: dict = {}
    support = constraints.positive

    def __init__(self) -> None:
        super().__init__(validate_args=False)

    def log_prob(self, lengthscale: Tensor) -> Tensor:
        t = lengthscale.pow(-2)
        return -(0.1 / t + 0.1 * t)


#: L-BFGS-B's projected-gradient tolerance on the (summed, not per-point) negative log
#: posterior of the "matern" GP's hyperparameters (docs/performance.md)
FIT_GTOL = 1e-2


def lengthscale_prior_for(name: LengthscalePrior, d: int) -> tuple[Prior, float]:
    """The lengthscale prior called ``name`` for ``d`` inputs, and its mode (a cold fit's start)."""
    if name == "inverse-square":
        return InverseSquaredLengthscalePrior(), 1.0
    if name == "hvarfner":
        loc, scale = math.sqrt(2.0) + 0.5 * math.log(d), math.sqrt(3.0)
    elif name in ("sqrt-d6", "sqrt-d10"):
        d0 = 6 if name == "sqrt-d6" else 10
        loc, scale = 1.0 + 0.5 * math.log(max(1.0, d / d0)), 1.0
    elif name == "lognormal":
        loc, scale = 1.0, 1.0
    else:
        raise ConfigError(f"unknown lengthscale prior {name!r}")
    return LogNormalPrior(loc, scale), math.exp(loc - scale**2)


def matern_kernel(d: int, lengthscale_prior: LengthscalePrior = DEFAULT_LENGTHSCALE_PRIOR) -> ScaleKernel:
    """Matern-5/2 ARD under an output scale, started at the priors' modes."""
    prior, mode = lengthscale_prior_for(lengthscale_prior, d)
    base = MaternKernel(nu=2.5, ard_num_dims=d, lengthscale_prior=prior)
    kernel = ScaleKernel(base, outputscale_prior=GammaPrior(2.0, 1.0))
    base.lengthscale = mode
    kernel.outputscale = 1.0
    return kernel


def fit_matern_map(gp: SingleTaskGP, maxiter: int | None = None, ftol: float | None = None) -> bool:
    """Type-II MAP of a ``matern_kernel`` SingleTaskGP from its current hyperparameters.

    The log marginal likelihood is written in plain tensor algebra (gpytorch's per-call
    machinery costs more than the algebra at BO's n) and minimised by scipy's L-BFGS-B over
    log lengthscales, log output scale, log(noise - floor) and the constant mean; the result
    is written back into the model. Returns whether L-BFGS-B converged.
    """
    X, y = gp.train_inputs[0], gp.train_targets
    n, d = X.shape
    kernel, base, lik = gp.covar_module, gp.covar_module.base_kernel, gp.likelihood
    floor = float(lik.noise_covar.raw_noise_constraint.lower_bound)
    fixed = not lik.noise_covar.raw_noise.requires_grad
    quad = isinstance(gp.mean_module, QuadraticMean)
    # a fitted constant; a held one (mean="worst") enters as it is, like a zero mean
    const = fitted_constant(gp.mean_module)
    held = gp.mean_module.constant.detach() if isinstance(gp.mean_module, ConstantMean) and not const else 0.0
    with torch.no_grad():
        start = torch.cat(
            [
                base.lengthscale.reshape(-1).log(),
                kernel.outputscale.reshape(1).log(),
                (lik.noise.reshape(1) - 0.99 * floor).clamp_min(1e-3 * floor).log(),
                gp.mean_module.constant.reshape(1) if const else torch.zeros(0, dtype=X.dtype),
                gp.mean_module.flat() if quad else torch.zeros(0, dtype=X.dtype),
            ]
        ).numpy()
    noise_now = lik.noise.detach().reshape(())

    def unpack(t: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        noise = noise_now if fixed else floor + t[d + 1].exp()
        c = t[d + 2] if const else gp.mean_module.evaluate(t[d + 2 :], X) if quad else held
        return t[:d].exp(), t[d].exp(), noise, c

    def loss(theta):
        t = torch.from_numpy(theta).requires_grad_(True)
        ls, scale, noise, c = unpack(t)
        Xs = X / ls
        r2 = (Xs.unsqueeze(-2) - Xs.unsqueeze(-3)).square().sum(-1)
        K = scale * matern52(r2) + noise * torch.eye(n, dtype=X.dtype)
        L, info = torch.linalg.cholesky_ex(K)
        if info:
            L = psd_safe_cholesky(K)  # adds jitter
        a = torch.linalg.solve_triangular(L, (y - c).unsqueeze(-1), upper=False).squeeze(-1)
        log_post = -0.5 * a.square().sum() - L.diagonal().log().sum()
        log_post = log_post + _log_prior(base.lengthscale_prior, ls) + _log_prior(kernel.outputscale_prior, scale)
        if not fixed:
            log_post = log_post + _log_prior(lik.noise_covar.noise_prior, noise)
        (-log_post).backward()
        return -log_post.item(), t.grad.numpy()

    options = {"gtol": FIT_GTOL} | ({"maxiter": maxiter} if maxiter else {}) | ({"ftol": ftol} if ftol else {})
    # a box keeps line searches out of overflow (standardised outputs, unit-cube inputs)
    bounds = [(-7.0, 7.0)] * (d + 1) + [(math.log(1e-3 * floor), 2.0)] + [(-10.0, 10.0)] * const
    bounds += gp.mean_module.bounds(d) if quad else []
    start = start.clip([b[0] for b in bounds], [b[1] for b in bounds])
    res = minimize(loss, start, jac=True, method="L-BFGS-B", bounds=bounds, options=options)
    with torch.no_grad():
        ls, scale, noise, c = unpack(torch.from_numpy(res.x))
        base.lengthscale = ls.reshape(base.lengthscale.shape)
        kernel.outputscale = scale
        if not fixed:
            lik.noise = noise
        if quad:
            gp.mean_module.load_flat(torch.from_numpy(res.x[d + 2 :]))
        elif const:
            gp.mean_module.constant.copy_(c)
    return bool(res.success) or res.status == 1  # 1: maxiter reached (a warm start's cap)


def fitted_constant(mean: Any) -> bool:
    """Whether ``mean`` is a constant mean the MAP fit learns (not ``held_constant_mean``'s)."""
    return isinstance(mean, ConstantMean) and mean.raw_constant.requires_grad


def held_constant_mean() -> ConstantMean:
    """A ConstantMean whose constant the fits leave alone (not a trainable parameter, so it is
    neither fitted nor carried by a warm start): ``mean="worst"`` sets it from each fit's data."""
    mean = ConstantMean()
    mean.raw_constant.requires_grad_(False)
    return mean


def _log_prior(prior, x: Tensor, dim: int | None = None) -> Tensor:
    """Summed log density of a LogNormal or Gamma prior, in closed form (torch.distributions'
    log_prob costs more than the whole marginal likelihood at BO's n); over ``dim`` only if given."""
    if isinstance(prior, LogNormalPrior):
        mu, sigma = float(prior.loc), float(prior.scale)
        z = (x.log() - mu) / sigma
        out = -0.5 * z.square() - x.log() - math.log(sigma) - 0.5 * math.log(2 * math.pi)
    elif isinstance(prior, GammaPrior):
        a, b = float(prior.concentration), float(prior.rate)
        out = (a - 1) * x.log() - b * x + a * math.log(b) - math.lgamma(a)
    else:
        out = prior.log_prob(x)  # InverseSquaredLengthscalePrior's is already closed-form
    return out.sum() if dim is None else out.sum(dim)


#: slice-sampling sweeps (every coordinate once) that chains started at the MAP take before
#: their first samples are used; later fits move each chain by one sweep
HYPER_BURN_IN = 10
#: slice sampler's bracket width in the log parameters
_SLICE_WIDTH = 2.0
_SLICE_SHRINKS = 40


class MaternPosterior:
    """Unnormalised log posterior of a fitted ``matern_kernel`` SingleTaskGP's hyperparameters,
    batched over rows of theta = (log lengthscales, log output scale, log(noise - floor)
    [unless fixed], constant mean [if any]), zero outside the MAP fit's box.

    It is ``fit_matern_map``'s objective read as a density over theta, so its mode is the MAP
    fit. Adding the log transform's Jacobian (``jacobian=True``) makes it the posterior under
    the priors as densities of the parameters themselves; that moves the mass to noise 0.01-0.2
    and output scales 1-3.5 (standardised) where the MAP fit has noise ~1e-3 or less, and the
    loop explored far more and did worse (docs/performance.md, issue 20 round 6)."""

    def __init__(self, gp: SingleTaskGP, jacobian: bool = False):
        X, y = gp.train_inputs[0], gp.train_targets
        self.jacobian = jacobian
        self.X, self.y = X, y
        self.n, self.d = X.shape
        self.sq_diff = (X.unsqueeze(-2) - X.unsqueeze(-3)).square().reshape(-1, self.d)  # n^2 x d
        self.eye = torch.eye(self.n, dtype=X.dtype)
        kernel, base, lik = gp.covar_module, gp.covar_module.base_kernel, gp.likelihood
        self.ls_prior, self.scale_prior = base.lengthscale_prior, kernel.outputscale_prior
        self.noise_prior = lik.noise_covar.noise_prior
        self.floor = float(lik.noise_covar.raw_noise_constraint.lower_bound)
        self.fixed = not lik.noise_covar.raw_noise.requires_grad
        self.const = isinstance(gp.mean_module, ConstantMean)
        if self.const and not fitted_constant(gp.mean_module):
            raise ValueError("MaternPosterior samples a fitted constant mean, not a held one (mean='worst')")
        d = self.d
        with torch.no_grad():
            parts = [base.lengthscale.reshape(-1).log(), kernel.outputscale.reshape(1).log()]
            if not self.fixed:
                parts.append((lik.noise.reshape(1) - 0.99 * self.floor).clamp_min(1e-3 * self.floor).log())
            if self.const:
                parts.append(gp.mean_module.constant.reshape(1))
            self.theta_map = torch.cat(parts).to(X)
        self.noise_now = lik.noise.detach().reshape(()).to(X)
        low = [-7.0] * (d + 1) + [math.log(1e-3 * self.floor)] * (not self.fixed) + [-10.0] * self.const
        high = [7.0] * (d + 1) + [2.0] * (not self.fixed) + [10.0] * self.const
        self.low, self.high = torch.tensor(low, dtype=X.dtype), torch.tensor(high, dtype=X.dtype)
        self.theta_map = torch.minimum(torch.maximum(self.theta_map, self.low), self.high)

    def unpack(self, t: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """``S x p`` theta -> lengthscales ``S x d``, output scales, noises, means (``S``)."""
        d = self.d
        noise = self.noise_now.expand(t.shape[0]) if self.fixed else self.floor + t[:, d + 1].exp()
        c = t[:, -1] if self.const else torch.zeros(t.shape[0], dtype=t.dtype)
        return t[:, :d].exp(), t[:, d].exp(), noise, c

    @torch.no_grad()
    def __call__(self, t: Tensor) -> Tensor:
        ls, scale, noise, c = self.unpack(t)
        r2 = (self.sq_diff @ ls.pow(-2).T).T.reshape(-1, self.n, self.n)
        K = scale[:, None, None] * matern52(r2) + noise[:, None, None] * self.eye
        L, info = torch.linalg.cholesky_ex(K)
        resid = (self.y.unsqueeze(0) - c.unsqueeze(-1)).unsqueeze(-1)
        a = torch.linalg.solve_triangular(L, resid, upper=False).squeeze(-1)
        lp = -0.5 * a.square().sum(-1) - L.diagonal(dim1=-2, dim2=-1).log().sum(-1)
        lp = lp + _log_prior(self.ls_prior, ls, -1) + _log_prior(self.scale_prior, scale.unsqueeze(-1), -1)
        if not self.fixed:
            lp = lp + _log_prior(self.noise_prior, noise.unsqueeze(-1), -1)
        if self.jacobian:
            lp = lp + t[:, : self.d + 1 + (not self.fixed)].sum(-1)
        inside = ((t >= self.low) & (t <= self.high)).all(-1)
        ok = inside & (info == 0) & torch.isfinite(lp)
        return torch.where(ok, lp, torch.tensor(-math.inf, dtype=t.dtype))


def slice_sweep(logp: MaternPosterior, t: Tensor, generator: torch.Generator) -> Tensor:
    """One sweep of coordinate-wise slice sampling (a bracket of fixed width, shrunk; Neal 2003)
    on every row of ``t`` (independent chains) at once."""
    t = t.clone()
    S, p = t.shape
    lp = logp(t)

    def u(*shape):
        return torch.rand(*shape, generator=generator, dtype=t.dtype)

    for j in range(p):
        level = lp + torch.log(u(S))  # the slice: log p > level
        # a fixed-width bracket placed at random around the point, shrunk (no stepping out:
        # chains carried from fit to fit need not cross the whole slice in one sweep)
        left = t[:, j] - _SLICE_WIDTH * u(S)
        right = left + _SLICE_WIDTH
        left.clamp_(min=float(logp.low[j]))
        right.clamp_(max=float(logp.high[j]))
        todo = torch.ones(S, dtype=torch.bool)
        for _ in range(_SLICE_SHRINKS):
            probe = t.clone()
            probe[:, j] = left + (right - left) * u(S)
            lp_new = logp(probe)
            accept = todo & (lp_new > level)
            t[accept, j] = probe[accept, j]
            lp = torch.where(accept, lp_new, lp)
            todo &= ~accept
            if not todo.any():
                break
            below = probe[:, j] < t[:, j]
            left = torch.where(todo & below, probe[:, j], left)
            right = torch.where(todo & ~below, probe[:, j], right)
        # a chain whose slice did not shrink onto an accepted point stays where it was
    return t


def sample_hyperparameters(
    gp: SingleTaskGP, num: int, chains: Tensor | None, generator: torch.Generator
) -> tuple[dict[str, Tensor], Tensor]:
    """``num`` posterior samples of a fitted ``matern_kernel`` GP's hyperparameters: ``num``
    slice-sampling chains, continued by one sweep from ``chains`` (the previous fit's, same
    shape) or started at the MAP and run ``HYPER_BURN_IN`` sweeps. Returns the samples
    (lengthscale ``num x d``, outputscale, noise, constant: ``num``) and the chains' positions."""
    logp = MaternPosterior(gp)
    p = logp.theta_map.numel()
    if chains is not None and chains.shape == (num, p) and torch.isfinite(logp(chains.to(logp.X))).all():
        t, sweeps = chains.to(logp.X), 1
    else:
        t, sweeps = logp.theta_map.expand(num, p).clone(), HYPER_BURN_IN
    for _ in range(sweeps):
        t = slice_sweep(logp, t, generator)
    ls, scale, noise, c = logp.unpack(t)
    return {"lengthscale": ls, "outputscale": scale, "noise": noise, "constant": c}, t


def matern52(r2: Tensor) -> Tensor:
    """Matern-5/2 correlation of squared scaled distances (finite gradients at r2 = 0)."""
    s = (5.0 * r2.clamp_min(1e-36)).sqrt()
    return (1.0 + s + s.square() / 3.0) * torch.exp(-s)


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
    X: Tensor,
    Y: Tensor,
    build,
    start: list[dict[str, Tensor]] | None = None,
    warm_maxiter: int = 5,
    warm_ftol: float | None = None,
) -> Model:
    """One exact GP per output column, each fitted by type-II MAP; a ModelListGP if m > 1.

    ``build(X, y)`` returns an unfitted SingleTaskGP for one ``n x 1`` output; ``start`` (from
    ``hyperparameters``) sets its initial hyperparameters where names and shapes match, and
    then the fit runs at most ``warm_maxiter`` L-BFGS-B iterations (BoTorch's fit; the
    "matern" fit likewise, and a cold one stops at its gradient tolerance; a warm start that
    fails is retried cold).
    """
    models = []
    for j in range(Y.shape[-1]):
        gp = build(X, Y[:, j : j + 1])
        warm = start is not None and len(start) == Y.shape[-1] and _load_matching(gp, start[j])
        options = {"optimizer_kwargs": {"options": {"maxiter": warm_maxiter}}} if warm else {}
        try:
            if _is_matern(gp):
                if not (warm and _try(fit_matern_map, gp, warm_maxiter, warm_ftol)):
                    # cold: L-BFGS-B's end point is kept even if its line search gave up there
                    gp = build(X, Y[:, j : j + 1])
                    fit_matern_map(gp)
            else:
                fit_gpytorch_mll(ExactMarginalLogLikelihood(gp.likelihood, gp), **options)
        except Exception as exc:  # botorch raises several types; report them as one
            raise SurrogateError(f"GP fit failed on output {j}: {exc}") from exc
        models.append(gp.eval())
    return models[0] if len(models) == 1 else ModelListGP(*models)


def _is_matern(gp: SingleTaskGP) -> bool:
    k = gp.covar_module
    return (
        isinstance(k, ScaleKernel)
        and type(k.base_kernel) is MaternKernel
        and k.base_kernel.nu == 2.5
        and getattr(k.base_kernel, "lengthscale_prior", None) is not None
        and k.active_dims is None
        and k.base_kernel.active_dims is None
        and getattr(k, "outputscale_prior", None) is not None
    )


def _try(fit, gp, maxiter: int, ftol: float | None = None) -> bool:
    try:
        return fit(gp, maxiter, ftol)
    except Exception:  # a warm start that fails numerically is retried cold
        return False


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
                    X,
                    y,
                    covar_module=paper_kernel(X.shape[-1]),
                    likelihood=paper_likelihood("study"),
                    outcome_transform=Standardize(m=1),
                )
            noise = s.noise or DEFAULT_NOISE
            matern = (s.kernel or DEFAULT_KERNEL) == "matern"
            kernel = matern_kernel(X.shape[-1], s.lengthscale_prior or DEFAULT_LENGTHSCALE_PRIOR) if matern else None
            lik = (
                None
                if noise == "learned"
                else (
                    low_noise_likelihood(s.initial_noise if matern else None)
                    if noise == "low"
                    else fixed_noise_likelihood(s.fixed_noise)
                )
            )
            if lik is None and kernel is not None:  # BoTorch's noise model, written out
                lik = botorch_likelihood()
            mean_name = s.mean or DEFAULT_MEAN
            mean = (
                (
                    ZeroMean()
                    if mean_name == "zero"
                    else held_constant_mean()
                    if mean_name == "worst"
                    else QuadraticMean(X.shape[-1], mean_name != "quadratic", mean_name == "quadratic-linear")
                    if mean_name.startswith("quadratic")
                    else None
                )
                if matern
                else None
            )
            transform = YeoJohnsonStandardize() if matern and warp else Standardize(m=1, min_stdv=MIN_SPREAD)
            gp = SingleTaskGP(X, y, covar_module=kernel, likelihood=lik, mean_module=mean, outcome_transform=transform)
            if matern and mean_name == "worst":  # the targets as the GP sees them: after the transform
                with torch.no_grad():
                    gp.mean_module.constant = gp.train_targets.min()
            return gp

        mode = s.output_warp or DEFAULT_OUTPUT_WARP
        warp = Y.shape[-1] == 1 and (mode == "yeo-johnson" or (mode == "auto" and X.shape[0] > X.shape[-1]))

        warm = s.priors == "modern" and s.warm_start is not False
        chains = None
        if isinstance(state, dict):  # hyper_samples > 1: the warm start and the chains
            state, chains = state.get("hyper"), state.get("chains")
            chains = chains if isinstance(chains, Tensor) else None
        start = state if warm and _is_hyperparameters(state) else None
        model = fit_exact_gps(X, Y, build, start, s.warm_maxiter, s.warm_ftol)
        stalled = Y.shape[-1] == 1 and X.shape[0] - 1 - int(Y[:, 0].argmax()) >= s.stall_after
        if s.stall_starts and stalled and isinstance(model, SingleTaskGP) and _is_matern(model):
            model = _best_of_cold_starts(model, lambda: build(X, Y), s.stall_starts, seed)
        self.state_ = hyperparameters(model) if warm else None
        if s.hyper_samples > 1 and isinstance(model, SingleTaskGP) and _is_matern(model):
            g = torch.Generator().manual_seed(seed)
            samples, chains = sample_hyperparameters(model, s.hyper_samples, chains, g)
            model.hyper_samples = samples  # read by the acquisition (bnnbo.exact_logei.log_ei)
            self.state_ = {"hyper": self.state_, "chains": chains}
        return model


def _best_of_cold_starts(model: SingleTaskGP, build, starts: int, seed: int) -> SingleTaskGP:
    """``model`` or one of ``starts`` cold fits, whichever has the highest MAP objective: the
    first cold fit starts at the priors' modes (the default's cold start), the others at
    lengthscales drawn from the lengthscale prior (log-normal around its mode for the
    inverse-square one) and a noise log-uniform in [1e-4, 1]."""
    g = torch.Generator().manual_seed(seed)
    best, best_lp = model, float(MaternPosterior(model)(MaternPosterior(model).theta_map.unsqueeze(0)))
    for i in range(starts):
        gp = build()
        if i:
            base, d = gp.covar_module.base_kernel, gp.train_inputs[0].shape[-1]
            prior = base.lengthscale_prior
            loc, scale = (float(prior.loc), float(prior.scale)) if isinstance(prior, LogNormalPrior) else (0.0, 1.0)
            z = torch.randn(d, generator=g, dtype=torch.float64)
            with torch.no_grad():
                base.lengthscale = (loc + scale * z).clamp(-6.0, 6.0).exp().reshape(base.lengthscale.shape)
                if gp.likelihood.noise_covar.raw_noise.requires_grad:
                    gp.likelihood.noise = 10.0 ** (-4.0 * float(torch.rand((), generator=g, dtype=torch.float64)))
        try:
            fit_matern_map(gp)
        except Exception:  # a start that fails numerically is dropped
            continue
        post = MaternPosterior(gp)
        lp = float(post(post.theta_map.unsqueeze(0)))
        if lp > best_lp:
            best, best_lp = gp.eval(), lp
    return best


def _is_hyperparameters(state: Any) -> bool:
    return isinstance(state, list) and all(
        isinstance(d, dict) and all(isinstance(v, Tensor) for v in d.values()) for d in state
    )
