"""Linearised Laplace (LLA) with the exact generalised Gauss-Newton, in function space.

A MAP network is trained (the study: Adam lr 0.1, weight decay 1e-3, MSE, cosine schedule).
The GLM predictive linearises it in *all* weights: with Jacobians ``J`` (train) and ``J*``
(test), a Gaussian likelihood of variance ``s2`` and an isotropic prior of variance ``v``, the
posterior covariance of ``f*`` is ``J* (J^T J / s2 + I / v)^-1 J*^T``. By Woodbury this is a GP
posterior covariance with the empirical NTK ``k = v J J^T`` and noise ``s2``, so the exact GGN
(no KFAC approximation) costs only ``N x N`` algebra, ``N = n m``. The NTK of an MLP is
computed layer by layer from activations and back-propagated vectors, never materialising
``J`` (cheap and differentiable in the inputs). ``v`` and ``s2`` are tuned by the Laplace
marginal likelihood. The mean is the MAP network's output.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import torch
from botorch.models.model import Model
from botorch.posteriors.gpytorch import GPyTorchPosterior
from gpytorch.distributions import MultitaskMultivariateNormal, MultivariateNormal
from torch import Tensor, nn

from bnnbo import paper
from bnnbo.errors import SurrogateError
from bnnbo.surrogates.base import Settings, SettingsProblems, Surrogate, y_moments
from bnnbo.surrogates.networks.bnn_common import adam
from bnnbo.surrogates.networks.mlp import MLPSpec

#: the study's prior tuning (laplace-torch 0.1a2 ``optimize_prior_precision``): Adam steps, lr
STUDY_TUNING_STEPS, STUDY_TUNING_LR = 50, 0.1


@dataclass(frozen=True)
class LaplaceSettings(Settings):
    #: hidden-layer widths of the MAP network (d -> widths -> m)
    widths: tuple[int, ...] = (128, 128, 128)
    activation: Literal["tanh", "relu"] = "tanh"
    #: full-batch Adam steps (cosine-annealed learning rate) of the MAP fit
    steps: int = 1000
    #: the study used 0.1 on raw y; on standardised y 0.1 underfits (tanh saturates) and 0.01
    #: gave the best held-out likelihood on Branin and Hartmann6 (docs/surrogate-quality.md)
    lr: float = 0.01
    weight_decay: float = 1e-3
    #: prior variance of every weight (initial value when tuned)
    prior_var: float = 1.0
    #: observation-noise variance on standardised y (initial value when tuned)
    noise_var: float = 0.01
    #: tune the prior variance / the noise variance by the Laplace marginal likelihood
    tune_prior: bool = True
    tune_noise: bool = True
    #: z-score each output before fitting (the study: no)
    standardize_y: bool = True
    #: start the MAP fit from the previous iteration's network, as the study does
    warm_start: bool = True
    #: linearise in "all" weights (default) or only the output layer's ("last_layer")
    weights: Literal["all", "last_layer"] = "all"
    #: "lbfgs": maximise the evidence from prior_var / noise_var by L-BFGS; "study":
    #: laplace-torch 0.1a2's, the prior variance reset to 1.0 (so prior_var has no effect)
    #: then 50 Adam steps at lr 0.1 on its log (the noise stays at noise_var)
    prior_tuning: Literal["lbfgs", "study"] = "lbfgs"
    #: added to the predictive covariance's diagonal so joint q-point samples stay well
    #: defined, in standardised units or (the study: 1e-4) in raw units
    jitter: float = 1e-8
    jitter_units: Literal["standardised", "raw"] = "standardised"

    def __post_init__(self) -> None:
        errors = []  # every problem at once
        if not self.widths or any(w < 1 for w in self.widths):
            errors.append(f"widths must be a non-empty list of positive integers, got {list(self.widths)}")
        if self.steps < 0:
            errors.append(f"steps must be >= 0, got {self.steps}")
        for name in ("lr", "prior_var", "noise_var"):
            if getattr(self, name) <= 0:
                errors.append(f"{name} must be > 0, got {getattr(self, name)}")
        if self.jitter < 0:
            errors.append(f"jitter must be >= 0, got {self.jitter}")
        if self.weight_decay < 0:
            errors.append(f"weight_decay must be >= 0, got {self.weight_decay}")
        if errors:
            raise SettingsProblems(errors)


def ntk_terms(
    spec: MLPSpec, theta: Tensor, x: Tensor, last_layer: bool = False
) -> tuple[Tensor, list[Tensor], list[Tensor]]:
    """Output ``f`` (``... x m``), layer inputs ``a_{l-1}`` (``... x w``) and back-propagated
    vectors ``delta_l = df / dz_l`` (``... x m x w_l``) of one network (``theta``: ``1 x P``);
    only the output layer's when ``last_layer``."""
    layers = [(W[0], b[0, 0]) for W, b in spec.unflatten(theta)]
    acts, derivs, a = [x], [], x
    for W, b in layers[:-1]:
        z = a @ W + b
        a = torch.tanh(z) if spec.activation == "tanh" else torch.relu(z)
        derivs.append(1 - a**2 if spec.activation == "tanh" else (z > 0).to(z))
        acts.append(a)
    f = a @ layers[-1][0] + layers[-1][1]
    m = f.shape[-1]
    delta = torch.eye(m, dtype=x.dtype).expand(*x.shape[:-1], m, m)
    if last_layer:
        return f, acts[-1:], [delta]
    deltas = [delta]
    for (W, _), dphi in zip(reversed(layers[1:]), reversed(derivs)):
        delta = (delta @ W.transpose(-1, -2)) * dphi.unsqueeze(-2)
        deltas.append(delta)
    return f, acts, deltas[::-1]


def ntk(ta: tuple[list[Tensor], list[Tensor]], tb: tuple[list[Tensor], list[Tensor]]) -> Tensor:
    """Empirical NTK ``J_a J_b^T`` from ``ntk_terms`` of two point sets: ``... x p x m x n x m``.

    For weights ``W_l`` the Jacobian is ``delta_l a_{l-1}^T``, so each layer adds
    ``(delta_l . delta_l') (a_{l-1} . a_{l-1}' + 1)`` (the 1 is the bias).
    """
    out = None
    for a1, d1, a2, d2 in zip(ta[0], ta[1], tb[0], tb[1]):
        inner = a1 @ a2.transpose(-1, -2) + 1  # ... x p x n
        dd = torch.einsum("...ikw,...jlw->...ikjl", d1, d2)
        term = dd * inner[..., :, None, :, None]
        out = term if out is None else out + term
    return out


def log_evidence(log_v: Tensor, log_s2: Tensor, lam: Tensor, sq_resid: Tensor, theta_sq: Tensor) -> Tensor:
    """Laplace log marginal likelihood (up to a constant) with the exact GGN.

    ``log p(y|theta) + log p(theta) - 1/2 log det(H / 2 pi)``, where the ``P log v`` terms cancel
    and ``log det(I + v J^T J / s2) = sum log(1 + v lam / s2)`` with ``lam`` the NTK's eigenvalues.
    """
    n = lam.numel()
    v, s2 = log_v.exp(), log_s2.exp()
    fit = -0.5 * n * log_s2 - 0.5 * sq_resid / s2
    return fit - 0.5 * theta_sq / v - 0.5 * torch.log1p(v * lam.clamp_min(0) / s2).sum()


def tune_hypers(s: LaplaceSettings, lam: Tensor, sq_resid: Tensor, theta_sq: Tensor) -> tuple[float, float]:
    """Maximise the evidence over log prior variance and/or log noise variance (L-BFGS), or
    tune the prior as the study did (``prior_tuning="study"``)."""
    if s.prior_tuning == "study":
        return _study_tuning(s, lam, sq_resid, theta_sq)
    log_v = torch.tensor(math.log(s.prior_var), dtype=lam.dtype, requires_grad=s.tune_prior)
    log_s2 = torch.tensor(math.log(s.noise_var), dtype=lam.dtype, requires_grad=s.tune_noise)
    params = [p for p in (log_v, log_s2) if p.requires_grad]
    if params:
        opt = torch.optim.LBFGS(params, lr=1.0, max_iter=100, line_search_fn="strong_wolfe")

        def closure() -> Tensor:
            opt.zero_grad()
            loss = -log_evidence(log_v, log_s2.clamp(min=math.log(1e-6)), lam, sq_resid, theta_sq)
            loss.backward()
            return loss

        opt.step(closure)
    return float(log_v.detach().exp()), max(float(log_s2.detach().exp()), 1e-6)


def _study_tuning(s: LaplaceSettings, lam: Tensor, sq_resid: Tensor, theta_sq: Tensor) -> tuple[float, float]:
    """Adam on the log prior variance from 0 (precision 1.0). Adam is unchanged by flipping
    the sign of its variable, so this is laplace-torch's Adam on the log precision."""
    log_s2 = torch.tensor(math.log(s.noise_var), dtype=lam.dtype)
    log_v = torch.zeros((), dtype=lam.dtype, requires_grad=True)
    if not s.tune_prior:
        return s.prior_var, s.noise_var
    opt = torch.optim.Adam([log_v], lr=STUDY_TUNING_LR)
    for _ in range(STUDY_TUNING_STEPS):
        opt.zero_grad()
        (-log_evidence(log_v, log_s2, lam, sq_resid, theta_sq)).backward()
        opt.step()
    return float(log_v.detach().exp()), s.noise_var


def train_map(spec: MLPSpec, theta: Tensor, X: Tensor, Z: Tensor, s: LaplaceSettings) -> tuple[Tensor, float]:
    """The study's MAP fit: Adam with weight decay on the MSE, cosine-annealed.

    ``theta``: ``1 x P`` start; returns the trained weights and the final MSE."""
    theta = nn.Parameter(theta.clone())
    opt = adam([theta], lr=s.lr, weight_decay=s.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(s.steps, 1))
    loss = torch.tensor(float("nan"))
    for _ in range(s.steps):
        opt.zero_grad()
        loss = ((spec.forward(theta, X)[0] - Z) ** 2).mean()
        loss.backward()
        opt.step()
        sched.step()
    if s.steps and not torch.isfinite(loss):
        raise SurrogateError(f"Laplace MAP training diverged (MSE {float(loss)}); lower lr (now {s.lr})")
    return theta.detach(), float(loss.detach())


class LaplaceModel(Model):
    """GLM predictive of a linearised MAP network: mean ``f_MAP``, joint covariance over ``q x m``."""

    def __init__(
        self,
        spec: MLPSpec,
        theta: Tensor,
        X: Tensor,
        v: float,
        s2: float,
        y_mean: Tensor,
        y_std: Tensor,
        last_layer: bool = False,
        jitter: float = 1e-8,
        jitter_raw: bool = False,
    ):
        super().__init__()
        self.spec, self.v, self.s2, self.last_layer = spec, v, s2, last_layer
        self.jitter, self.jitter_raw = jitter, jitter_raw
        self.register_buffer("theta", theta)
        self.register_buffer("y_mean", y_mean)
        self.register_buffer("y_std", y_std)
        _, acts, deltas = ntk_terms(spec, theta, X, last_layer)
        self._train = (acts, deltas)
        K = ntk(self._train, self._train).flatten(0, 1).flatten(1, 2)  # N x N, N = n m
        self._chol = torch.linalg.cholesky(v * K + s2 * torch.eye(K.shape[0], dtype=K.dtype))

    @property
    def num_outputs(self) -> int:
        return self.y_mean.numel()

    def posterior(
        self,
        X: Tensor,
        output_indices: list[int] | None = None,
        observation_noise: bool | Tensor = False,
        posterior_transform: Any = None,
        **kw: Any,
    ):
        """``batch x q x d`` -> Gaussian posterior, joint over the ``q`` points and ``m`` outputs."""
        mean, cov = self._predict(X, observation_noise is not False and observation_noise is not None)
        idx = list(range(self.num_outputs)) if output_indices is None else list(output_indices)
        if len(idx) < self.num_outputs:
            q, m = mean.shape[-2], self.num_outputs
            flat = torch.tensor([i * m + k for i in range(q) for k in idx])
            mean, cov = mean[..., idx], cov[..., flat, :][..., flat]
        if len(idx) == 1:
            mvn = MultivariateNormal(mean[..., 0], cov)
        else:
            mvn = MultitaskMultivariateNormal(mean, cov, interleaved=True)
        post = GPyTorchPosterior(mvn)
        return post if posterior_transform is None else posterior_transform(post)

    def _predict(self, X: Tensor, noise: bool) -> tuple[Tensor, Tensor]:
        """Mean ``batch x q x m`` and covariance ``batch x qm x qm`` (point-major order), raw units."""
        X = X.to(self.y_mean)
        f, acts, deltas = ntk_terms(self.spec, self.theta, X, self.last_layer)
        q, m = X.shape[-2], self.num_outputs
        k_ss = ntk((acts, deltas), (acts, deltas)).reshape(*X.shape[:-2], q * m, q * m)
        k_sx = ntk((acts, deltas), self._train).reshape(*X.shape[:-2], q * m, -1)
        W = torch.linalg.solve_triangular(self._chol, k_sx.transpose(-1, -2), upper=False)
        cov = self.v * k_ss - self.v**2 * (W.transpose(-1, -2) @ W)
        eye = torch.eye(q * m, dtype=X.dtype)
        std_jitter = 0.0 if self.jitter_raw else self.jitter
        cov = cov + (std_jitter + (self.s2 if noise else 0.0)) * eye
        scale = self.y_std.repeat(q)
        cov = cov * scale.unsqueeze(-1) * scale.unsqueeze(-2)
        if self.jitter_raw:
            cov = cov + self.jitter * eye
        return f * self.y_std + self.y_mean, cov


class LaplaceSurrogate(Surrogate):
    """MAP MLP + linearised Laplace (exact GGN over all weights), hyperparameters by evidence."""

    name = "laplace"
    Settings = LaplaceSettings
    presets = paper.laplace_presets()

    def _fit(self, X: Tensor, Y: Tensor, *, seed: int, state: Any) -> Model:
        s: LaplaceSettings = self.settings
        if s.standardize_y:
            y_mean, y_std = y_moments(Y)
        else:
            y_mean, y_std = torch.zeros(Y.shape[-1], dtype=Y.dtype), torch.ones(Y.shape[-1], dtype=Y.dtype)
        Z = (Y - y_mean) / y_std
        spec = MLPSpec(X.shape[-1], s.widths, Y.shape[-1], s.activation)
        old = state.get("theta") if s.warm_start and isinstance(state, dict) else None
        warm = old is not None and old.shape == (1, spec.num_params)
        theta = old if warm else spec.init(1, torch.Generator().manual_seed(seed))
        theta, mse = train_map(spec, theta, X, Z, s)
        last = s.weights == "last_layer"
        v, s2 = self._tune(spec, theta, X, Z, last)
        self.state_ = {"theta": theta.clone()}
        self.diagnostics_ = {"map_mse": mse, "prior_var": v, "noise_var": s2, "warm_started": warm}
        try:
            return LaplaceModel(spec, theta, X, v, s2, y_mean, y_std, last, s.jitter, s.jitter_units == "raw")
        except torch.linalg.LinAlgError as exc:
            raise SurrogateError(f"Laplace: Cholesky of the NTK Gram matrix failed: {exc}") from exc

    def _tune(self, spec: MLPSpec, theta: Tensor, X: Tensor, Z: Tensor, last: bool) -> tuple[float, float]:
        with torch.no_grad():
            f, acts, deltas = ntk_terms(spec, theta, X, last)
            K = ntk((acts, deltas), (acts, deltas)).flatten(0, 1).flatten(1, 2)
            lam = torch.linalg.eigvalsh(K)
            sq_resid = ((f - Z) ** 2).sum()
            W, b = spec.unflatten(theta)[-1]
            theta_sq = (W**2).sum() + (b**2).sum() if last else (theta**2).sum()
        return tune_hypers(self.settings, lam, sq_resid, theta_sq)
