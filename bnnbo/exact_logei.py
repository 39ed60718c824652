"""Analytic LogEI on a fitted exact GP, evaluated with plain tensor algebra.

BoTorch's ``LogExpectedImprovement`` on a ``SingleTaskGP`` spends most of each call in
gpytorch's and linear_operator's per-call machinery, and the acquisition optimiser calls it
hundreds of times per ask. ``ExactGPLogEI`` computes the same value from the GP's own kernel,
mean, noise and outcome transform, factorising the training covariance once per ask
(docs/performance.md has the measurement).
"""

from __future__ import annotations

import torch
from botorch.acquisition import LogExpectedImprovement
from botorch.acquisition.acquisition import AcquisitionFunction
import math

from botorch.models import SingleTaskGP
from botorch.models.model import Model
from botorch.models.transforms.outcome import Standardize
from gpytorch.kernels import MaternKernel, RBFKernel, ScaleKernel
from gpytorch.likelihoods import GaussianLikelihood
from gpytorch.means import ConstantMean, ZeroMean
from linear_operator.utils.cholesky import psd_safe_cholesky
from torch import Tensor

from bnnbo.gp_mean import QuadraticMean
from bnnbo.output_warp import YeoJohnsonStandardize


def log_ei(model: Model, best_f: Tensor | float) -> AcquisitionFunction:
    """Analytic LogEI with incumbent ``best_f`` (maximisation): the plain-algebra version for a
    single-output exact GP on untransformed inputs, BoTorch's for any other model."""
    if _is_plain_exact_gp(model, warped=True):
        samples = getattr(model, "hyper_samples", None)
        if samples is not None and IntegratedExactGPLogEI.applies(model):
            return IntegratedExactGPLogEI(model, best_f, samples)
        return ExactGPLogEI(model, best_f)
    return LogExpectedImprovement(model, best_f=best_f)


def _is_plain_exact_gp(model: Model, warped: bool = False) -> bool:
    """A single-output SingleTaskGP whose outputs are standardised (or not transformed), or with
    ``warped``, also Yeo-Johnson warped (its posterior in the warped scale is then Gaussian)."""
    transforms = (Standardize, type(None), *((YeoJohnsonStandardize,) if warped else ()))
    return (
        type(model) is SingleTaskGP
        and model.num_outputs == 1
        and getattr(model, "input_transform", None) is None
        and isinstance(getattr(model, "outcome_transform", None), transforms)
        and type(model.likelihood) is GaussianLikelihood
        and model.train_inputs[0].ndim == 2
    )


def _dense(K) -> Tensor:
    return K.to_dense() if hasattr(K, "to_dense") else K


def _output_scale(model: SingleTaskGP, best_f: Tensor | float, dtype: torch.dtype) -> tuple[Tensor, Tensor, Tensor]:
    """``(shift, scale, best_f)`` of the scale LogEI is computed in: the GP's outputs are
    ``shift + scale * targets``; a warped GP's are in its warped scale, where ``best_f`` goes too
    (the warp is monotone: improvement there is improvement in the original units)."""
    tf = getattr(model, "outcome_transform", None)
    if isinstance(tf, YeoJohnsonStandardize):
        best_f, tf = tf.warp(best_f), tf.post
    shift = tf.means.reshape(()) if tf is not None else torch.tensor(0.0, dtype=dtype)
    scale = tf.stdvs.reshape(()) if tf is not None else torch.tensor(1.0, dtype=dtype)
    return shift, scale, torch.as_tensor(best_f, dtype=dtype).reshape(())


class ExactGPLogEI(AcquisitionFunction):
    """log E[max(f(x) - best_f, 0)] under the latent posterior of a fitted SingleTaskGP."""

    def __init__(self, model: SingleTaskGP, best_f: Tensor | float):
        super().__init__(model=model)
        X = model.train_inputs[0]
        with torch.no_grad():
            K = _dense(model.covar_module.forward(X, X))
            K = K + model.likelihood.noise.reshape(()) * torch.eye(X.shape[0], dtype=X.dtype)
            L = psd_safe_cholesky(K)
            resid = (model.train_targets - model.mean_module(X)).unsqueeze(-1)
            alpha = torch.cholesky_solve(resid, L).squeeze(-1)
        shift, scale, best_f = _output_scale(model, best_f, X.dtype)
        self.register_buffer("train_X", X)
        self.register_buffer(
            "L_inv", torch.linalg.solve_triangular(L, torch.eye(X.shape[0], dtype=X.dtype), upper=False)
        )
        self.register_buffer("alpha", alpha)
        self.register_buffer("shift", shift)
        self.register_buffer("scale", scale)
        self.register_buffer("best_f", torch.as_tensor(best_f, dtype=X.dtype).reshape(()))

        kernel = model.covar_module
        self._rbf = type(kernel) is RBFKernel and kernel.active_dims is None
        # bnnbo's default kernel: Matern-5/2 ARD under an output scale
        self._matern = (
            type(kernel) is ScaleKernel
            and type(kernel.base_kernel) is MaternKernel
            and kernel.base_kernel.nu == 2.5
            and kernel.active_dims is None
            and kernel.base_kernel.active_dims is None
        )
        if self._rbf or self._matern:  # a few fused ops instead of gpytorch's forward
            base = kernel.base_kernel if self._matern else kernel
            with torch.no_grad():
                ls = base.lengthscale.reshape(-1)
                self.register_buffer("inv_ls", 1.0 / ls)
                self.register_buffer("train_Xs", X * self.inv_ls)
                self.register_buffer("train_sq", self.train_Xs.square().sum(-1))
                scale = kernel.outputscale.reshape(()) if self._matern else torch.ones((), dtype=X.dtype)
                self.register_buffer("outputscale", scale.detach())
        mean_module = model.mean_module
        quad = self._quad = type(mean_module) is QuadraticMean
        self._const = type(mean_module) in (ConstantMean, ZeroMean) or quad
        if self._const:
            c = mean_module.constant if type(mean_module) is not ZeroMean else torch.zeros(())
            self.register_buffer("const", c.detach().to(X).reshape(()))
            a = mean_module.curvature() if quad else torch.zeros(())
            self.register_buffer("curvature", a.detach().to(X).reshape(()))
            b = mean_module.slope_or_zero() if quad else 0.0
            self.register_buffer("slope", torch.as_tensor(b).detach().to(X).expand(X.shape[-1]).clone())

    def _cross(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Prior covariances ``k(x, X)`` (``n x N``) and prior variances ``k(x, x)`` (``n``)."""
        if self._rbf or self._matern:
            xs = x * self.inv_ls
            d2 = (xs.square().sum(-1, keepdim=True) - 2 * xs @ self.train_Xs.T + self.train_sq).clamp_min(0)
            prior = self.outputscale.expand(x.shape[0])
            if self._rbf:
                return (-0.5 * d2).exp(), prior
            s = (5.0 * d2.clamp_min(1e-36)).sqrt()  # the floor keeps the gradient finite at a training point
            return self.outputscale * (1.0 + s + s.square() / 3.0) * torch.exp(-s), prior
        kernel = self.model.covar_module
        return _dense(kernel.forward(x, self.train_X)), _dense(kernel.forward(x, x, diag=True))

    def mean_and_sigma(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Posterior mean and standard deviation of f at ``n x d`` points, original units."""
        k, prior = self._cross(x)
        prior_mean = self._prior_mean(x) if self._const else self.model.mean_module(x)
        mean = prior_mean + k @ self.alpha
        v = k @ self.L_inv.T
        var = (prior - v.square().sum(-1)).clamp_min(1e-12)
        return self.shift + self.scale * mean, self.scale * var.sqrt()

    @property
    def has_fused_gradient(self) -> bool:
        return (self._rbf or self._matern) and self._const

    @torch.no_grad()
    def value_and_grad(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """LogEI at ``n x d`` points and its gradient, by hand (no autograd graph: the
        acquisition optimiser's calls are small, and autograd's per-op overhead dominated them).
        Fused kernels with a constant mean only (``has_fused_gradient``)."""
        xs = x * self.inv_ls
        diff = xs.unsqueeze(-2) - self.train_Xs  # n x N x d, lengthscale units
        d2 = (xs.square().sum(-1, keepdim=True) - 2 * xs @ self.train_Xs.T + self.train_sq).clamp_min(0)
        if self._rbf:
            k = (-0.5 * d2).exp()
            dk_dd2 = -0.5 * k
        else:
            s = (5.0 * d2.clamp_min(1e-36)).sqrt()
            e = torch.exp(-s)
            k = self.outputscale * (1.0 + s + s.square() / 3.0) * e
            dk_dd2 = self.outputscale * (-5.0 / 6.0) * (1.0 + s) * e
        w = k @ self.L_inv.T  # n x N
        var_raw = self.outputscale - w.square().sum(-1)
        var = var_raw.clamp_min(1e-12)
        sd = var.sqrt()
        mean = self.shift + self.scale * (self._prior_mean(x) + k @ self.alpha)
        sigma = self.scale * sd
        u = (mean - self.best_f) / sigma
        value = log_h(u) + sigma.log()
        # d value / d mean = r / sigma and d value / d sigma = (1 - u r) / sigma, r = Phi(u) / h(u)
        r = torch.exp(torch.special.log_ndtr(u) - log_h(u))
        dv_dmean = r / sigma
        dv_dsigma = torch.where(var_raw > 1e-12, (1.0 - u * r) / sigma, 0.0)
        # mean = scale (c + k alpha), sigma = scale sqrt(prior - |L^-1 k|^2)
        dv_dk = self.scale * (dv_dmean.unsqueeze(-1) * self.alpha - (dv_dsigma / sd).unsqueeze(-1) * (w @ self.L_inv))
        # d2 = |x / ls - X / ls|^2
        g = ((dv_dk * dk_dd2).unsqueeze(-1) * 2.0 * diff).sum(-2) * self.inv_ls
        if self._quad:  # the prior mean's gradient: b - 2 a (x - 0.5)
            g = g + (dv_dmean * self.scale).unsqueeze(-1) * (self.slope - 2.0 * self.curvature * (x - 0.5))
        return value, g

    def _prior_mean(self, x: Tensor) -> Tensor:
        """Constant, zero or quadratic prior mean at ``n x d`` points (standardised units)."""
        if not self._quad:
            return self.const
        z = x - 0.5
        return self.const + z @ self.slope - self.curvature * z.square().sum(-1)

    def forward(self, X: Tensor) -> Tensor:
        """``batch x 1 x d`` -> ``batch``."""
        if X.shape[-2] != 1:
            raise ValueError(f"analytic LogEI takes q = 1 points per batch, got q = {X.shape[-2]}")
        batch = X.shape[:-2]
        mean, sigma = self.mean_and_sigma(X.reshape(-1, X.shape[-1]))
        u = (mean - self.best_f) / sigma
        return (log_h(u) + sigma.log()).reshape(batch)


_LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)
_SQRT_PI_2 = math.sqrt(math.pi / 2)


def log_h(u: Tensor) -> Tensor:
    """log(phi(u) + u Phi(u)), the log expected improvement of a standard normal over -u.

    Direct above u = -1; below, log phi(u) + log1p(-|u| Phi(u) / phi(u)) with the Mills ratio
    from erfcx, which keeps the tail's value and gradient finite. Fewer tensor ops than
    BoTorch's ``_log_ei_helper`` (its twin in value, tested), which matters at ~25 calls per ask.
    """
    upper = u > -1.0
    uu = torch.where(upper, u, -1.0)
    direct = torch.log(torch.exp(-0.5 * uu.square()) / math.sqrt(2 * math.pi) + uu * torch.special.ndtr(uu))
    ul = torch.where(upper, -1.0, u)
    w = -ul * _SQRT_PI_2 * torch.special.erfcx(-ul / math.sqrt(2))
    tail = -0.5 * ul.square() - _LOG_SQRT_2PI + torch.log1p(-w.clamp_max(1.0 - 1e-16))
    return torch.where(upper, direct, tail)


class IntegratedExactGPLogEI(AcquisitionFunction):
    """log((1/S) sum_s EI_s(x)): LogEI averaged over S hyperparameter samples of a fitted
    Matern-5/2 SingleTaskGP (integrated EI, Snoek et al. 2012), all S models in one batched
    computation. ``samples``: lengthscale ``S x d``, outputscale, noise, constant (``S``) in the
    GP's standardised units (``bnnbo.surrogates.gaussian.gp.sample_hyperparameters``)."""

    has_fused_gradient = True

    @staticmethod
    def applies(model: SingleTaskGP) -> bool:
        k = model.covar_module
        return (
            type(k) is ScaleKernel
            and type(k.base_kernel) is MaternKernel
            and k.base_kernel.nu == 2.5
            and k.active_dims is None
            and k.base_kernel.active_dims is None
            and type(model.mean_module) in (ConstantMean, ZeroMean)
        )

    def __init__(self, model: SingleTaskGP, best_f: Tensor | float, samples: dict[str, Tensor]):
        super().__init__(model=model)
        X = model.train_inputs[0]
        n = X.shape[0]
        with torch.no_grad():
            ls = samples["lengthscale"].to(X)
            S = ls.shape[0]
            inv_ls = 1.0 / ls  # S x d
            Xs = X.unsqueeze(0) * inv_ls.unsqueeze(1)  # S x n x d
            sq = Xs.square().sum(-1)
            d2 = (sq.unsqueeze(-1) - 2 * Xs @ Xs.transpose(-1, -2) + sq.unsqueeze(-2)).clamp_min(0)
            os_ = samples["outputscale"].to(X).reshape(S)
            s = (5.0 * d2.clamp_min(1e-36)).sqrt()
            K = os_[:, None, None] * (1.0 + s + s.square() / 3.0) * torch.exp(-s)
            K = K + samples["noise"].to(X).reshape(S)[:, None, None] * torch.eye(n, dtype=X.dtype)
            L = psd_safe_cholesky(K)
            const = samples["constant"].to(X).reshape(S)
            if type(model.mean_module) is ZeroMean:
                const = torch.zeros_like(const)
            resid = (model.train_targets.unsqueeze(0) - const.unsqueeze(-1)).unsqueeze(-1)
            alpha = torch.cholesky_solve(resid, L).squeeze(-1)  # S x n
            L_inv = torch.linalg.solve_triangular(L, torch.eye(n, dtype=X.dtype).expand(S, n, n), upper=False)
        shift, scale, best_f = _output_scale(model, best_f, X.dtype)
        self.register_buffer("train_Xs", Xs)
        self.register_buffer("train_sq", sq)
        self.register_buffer("inv_ls_s", inv_ls)
        self.register_buffer("outputscale", os_)
        self.register_buffer("const", const)
        self.register_buffer("alpha", alpha)
        self.register_buffer("L_inv", L_inv)
        self.register_buffer("shift", shift)
        self.register_buffer("scale", scale)
        self.register_buffer("best_f", torch.as_tensor(best_f, dtype=X.dtype).reshape(()))
        # the optimiser's lengthscale units: the MAP fit's
        self.register_buffer("inv_ls", 1.0 / model.covar_module.base_kernel.lengthscale.detach().reshape(-1))
        self.log_S = math.log(S)

    def _parts(self, x: Tensor):
        xs = x.unsqueeze(0) * self.inv_ls_s.unsqueeze(1)  # S x m x d
        d2 = (
            (xs.square().sum(-1, keepdim=True) - 2 * xs @ self.train_Xs.transpose(-1, -2))
            .add(self.train_sq.unsqueeze(1))
            .clamp_min(0)
        )  # S x m x n
        s = (5.0 * d2.clamp_min(1e-36)).sqrt()  # the floor keeps the gradient finite at a training point
        e = torch.exp(-s)
        os_ = self.outputscale[:, None, None]
        k = os_ * (1.0 + s + s.square() / 3.0) * e
        w = k @ self.L_inv.transpose(-1, -2)  # S x m x n
        var_raw = self.outputscale.unsqueeze(-1) - w.square().sum(-1)
        sd = var_raw.clamp_min(1e-12).sqrt()
        mean = self.shift + self.scale * (self.const.unsqueeze(-1) + (k @ self.alpha.unsqueeze(-1)).squeeze(-1))
        sigma = self.scale * sd
        u = (mean - self.best_f) / sigma
        return xs, s, e, k, w, var_raw, sd, sigma, u, log_h(u) + sigma.log()

    def per_sample(self, x: Tensor) -> Tensor:
        """Each sample's LogEI at ``m x d`` points: ``S x m``."""
        return self._parts(x)[-1]

    @torch.no_grad()
    def value_and_grad(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """The integrated LogEI at ``m x d`` points and its gradient, by hand (as ExactGPLogEI's)."""
        xs, s, e, k, w, var_raw, sd, sigma, u, values = self._parts(x)
        value = torch.logsumexp(values, 0) - self.log_S
        weight = torch.softmax(values, 0)  # d value / d values_s
        r = torch.exp(torch.special.log_ndtr(u) - log_h(u))
        dv_dmean = weight * r / sigma
        dv_dsigma = torch.where(var_raw > 1e-12, weight * (1.0 - u * r) / sigma, 0.0)
        dv_dk = self.scale * (
            dv_dmean.unsqueeze(-1) * self.alpha.unsqueeze(1) - (dv_dsigma / sd).unsqueeze(-1) * (w @ self.L_inv)
        )
        dk_dd2 = self.outputscale[:, None, None] * (-5.0 / 6.0) * (1.0 + s) * e
        diff = xs.unsqueeze(-2) - self.train_Xs.unsqueeze(1)  # S x m x n x d
        g = ((dv_dk * dk_dd2).unsqueeze(-1) * 2.0 * diff).sum(-2) * self.inv_ls_s.unsqueeze(1)
        return value, g.sum(0)

    def forward(self, X: Tensor) -> Tensor:
        """``batch x 1 x d`` -> ``batch``."""
        if X.shape[-2] != 1:
            raise ValueError(f"analytic LogEI takes q = 1 points per batch, got q = {X.shape[-2]}")
        batch = X.shape[:-2]
        values = self.per_sample(X.reshape(-1, X.shape[-1]))
        return (torch.logsumexp(values, 0) - self.log_S).reshape(batch)
