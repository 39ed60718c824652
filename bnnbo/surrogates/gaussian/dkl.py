"""Deep kernel learning (DKL): an exact GP on the features of a neural network.

The study's recipe (bnn-bo ``models/dkl.py``): an MLP ``d -> widths -> 1`` is pre-trained by
MSE on the standardised y, its 1-unit head is removed, and a Matérn-5/2 ARD GP (the study's
Gamma priors) acts on the last hidden layer. Network and GP hyperparameters are then trained
jointly by Adam on the exact marginal likelihood (the study's of the raw y, bnnbo's default
of the standardised y). Several objectives: one DKL GP each.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import torch
from botorch.models import ModelListGP, SingleTaskGP
from botorch.models.model import Model
from botorch.models.transforms.outcome import Standardize
from gpytorch.constraints import GreaterThan, Positive
from gpytorch.kernels import Kernel, MaternKernel, ScaleKernel
from gpytorch.means import ConstantMean
from gpytorch.mlls import ExactMarginalLogLikelihood
from gpytorch.priors import GammaPrior
from linear_operator.utils.cholesky import psd_safe_cholesky
from torch import Tensor, nn

from bnnbo import paper
from bnnbo.errors import SurrogateError
from bnnbo.surrogates.adam import FusedAdam
from bnnbo.surrogates.base import Settings, SettingsProblems, Surrogate, y_moments
from bnnbo.surrogates.gaussian.gp import NoiseConstraint, paper_kernel, paper_likelihood

_ACTIVATIONS = {"tanh": nn.Tanh, "relu": nn.ReLU}


@dataclass(frozen=True)
class DKLSettings(Settings):
    #: hidden-layer widths of the feature extractor; the GP sees the last one
    widths: tuple[int, ...] = (128, 128, 128)
    #: activation of the hidden layers (tanh in every study config)
    activation: Literal["tanh", "relu"] = "tanh"
    #: Adam steps of MSE pre-training on standardised y (0: no pre-training)
    pretrain_steps: int = 1000
    #: learning rate of the pre-training
    pretrain_lr: float = 1e-3
    #: full-batch Adam steps on the exact marginal likelihood
    train_steps: int = 5000
    #: learning rate of the joint training
    lr: float = 1e-3
    #: the marginal likelihood's target: the GP's "standardised" y, or the study's "raw" y
    #: (its GP still predicts through the standardisation, in all three of its fit paths)
    mll_target: Literal["standardised", "raw"] = "standardised"
    #: the noise >= 1e-4 bound: "softplus" or the study's "study" (no transform; gp.py)
    noise_constraint: NoiseConstraint = "softplus"

    def __post_init__(self) -> None:
        errors = []  # every problem at once
        if not self.widths or any(w < 1 for w in self.widths):
            errors.append(f"widths must be a non-empty list of positive integers, got {list(self.widths)}")
        if self.pretrain_steps < 0 or self.train_steps < 0:
            errors.append(f"pretrain_steps and train_steps must be >= 0, got {self.pretrain_steps}, {self.train_steps}")
        if self.lr <= 0 or self.pretrain_lr <= 0:
            errors.append(f"lr and pretrain_lr must be > 0, got {self.lr}, {self.pretrain_lr}")
        if errors:
            raise SettingsProblems(errors)


def mlp(d: int, widths: tuple[int, ...], activation: str, out: int = 1) -> nn.Sequential:
    """``d -> widths -> out`` fully connected network in float64; the last layer is linear."""
    layers: list[nn.Module] = []
    for w in widths:
        layers += [nn.Linear(d, w), _ACTIVATIONS[activation]()]
        d = w
    layers.append(nn.Linear(d, out))
    return nn.Sequential(*layers).double()


class DeepKernel(Kernel):
    """``base(g(x1), g(x2))`` for a feature extractor ``g``: ``... x n x d -> ... x n x k``."""

    def __init__(self, extractor: nn.Module, base: Kernel):
        super().__init__()
        self.extractor = extractor
        self.base = base

    def forward(self, x1: Tensor, x2: Tensor, diag: bool = False, **params: Any) -> Tensor:
        f1 = self.extractor(x1)
        f2 = f1 if torch.equal(x1, x2) else self.extractor(x2)
        return self.base.forward(f1, f2, diag=diag, **params)


def pretrain(net: nn.Sequential, X: Tensor, y: Tensor, steps: int, lr: float, fused: bool = True) -> float:
    """Adam on the MSE to standardised ``y`` (``n x 1``); returns the final MSE. ``fused``:
    ``FusedAdam``, else ``torch.optim.Adam``'s default loop (the same updates up to rounding)."""
    mean, std = y_moments(y)
    z = (y - mean) / std
    opt = FusedAdam(net.parameters(), lr=lr) if fused else torch.optim.Adam(net.parameters(), lr=lr)
    loss = torch.tensor(float("nan"))
    for _ in range(steps):
        opt.zero_grad()
        loss = ((net(X) - z) ** 2).mean()
        loss.backward()
        opt.step()
    return float(loss.detach())


_SQRT5 = math.sqrt(5)
_LOG_2PI = math.log(2 * math.pi)


@dataclass(frozen=True)
class _Hyper:
    """One positive GP hyperparameter: its raw value's transform (gpytorch's constraint: the
    identity if not enforced, else softplus, plus the lower bound for GreaterThan but not
    Positive) and its Gamma(a, b) prior."""

    enforced: bool
    lower: Tensor | None
    a: float
    b: float

    @classmethod
    def of(cls, constraint: GreaterThan, prior: GammaPrior, like: Tensor) -> _Hyper:
        lower = None if isinstance(constraint, Positive) else constraint.lower_bound.to(like)
        h = cls(bool(constraint.enforced), lower, float(prior.concentration), float(prior.rate))
        probe = torch.tensor([-30.0, -1.0, 0.0, 1e-3, 1.0, 25.0], dtype=like.dtype, device=like.device)
        if not torch.equal(h.value(probe)[0], constraint.transform(probe)):  # the transform written out is its own
            raise TypeError(f"DKLObjective does not know the constraint {constraint!r}")
        return h

    def value(self, raw: Tensor) -> tuple[Tensor, Tensor | None]:
        """The hyperparameter and d value / d raw (None: 1)."""
        if not self.enforced:
            return raw, None
        v = torch.nn.functional.softplus(raw)
        if self.lower is not None:
            v = v + self.lower
        return v, torch.where(raw > 20.0, 1.0, torch.sigmoid(raw))  # softplus' threshold 20

    def log_prior(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Summed Gamma log density (torch.distributions.Gamma's terms) and its gradient."""
        a, b = self.a, self.b
        return ((a - 1) * x.log() - b * x + a * math.log(b) - math.lgamma(a)).sum(), (a - 1) / x - b


class _NegMLL(torch.autograd.Function):
    """``-(log marginal likelihood + log priors) / n`` of a Matérn-5/2 GP on features ``f``, as
    gpytorch computes it, with its gradient in closed form (autograd through the ~100 small
    ops of gpytorch's graph costs more than their arithmetic at BO's n)."""

    @staticmethod
    def forward(ctx, f, raw_ls, raw_scale, raw_noise, constant, obj):  # type: ignore[override]
        n = f.shape[-2]
        ls, d_ls = obj.ls.value(raw_ls)
        scale, d_scale = obj.scale.value(raw_scale)
        noise, d_noise = obj.noise.value(raw_noise)
        # MaternKernel.forward: features centred on their mean, then scaled
        a = (f - f.mean(dim=-2, keepdim=True)).div(ls)
        # gpytorch's sq_dist: centred again, |a|^2 - 2 a.b + |b|^2 by one matmul, clamped at 0;
        # its dist then clamps at 1e-30 before the square root
        a = a - a.mean(dim=-2, keepdim=True)
        norm = a.pow(2).sum(dim=-1, keepdim=True)
        pad = torch.ones_like(norm)
        sq = torch.cat([-2.0 * a, norm, pad], dim=-1).matmul(torch.cat([a, pad, norm], dim=-1).mT)
        d = sq.clamp_min(0).clamp_min(1e-30).sqrt()
        e = torch.exp(-_SQRT5 * d)
        k = (_SQRT5 * d).add(1).add(5.0 / 3.0 * d**2) * e
        K = k.mul(scale)
        K.diagonal().add_(noise)
        L = psd_safe_cholesky(K)  # gpytorch's, with its jitter and errors
        w = torch.linalg.solve_triangular(L, (obj.y - constant).unsqueeze(-1), upper=False)
        lml = -0.5 * (w.pow(2).sum() + L.diagonal().pow(2).log().sum() + n * _LOG_2PI)
        # ExactMarginalLogLikelihood: + the priors' log densities in gpytorch's order, then / n
        p_noise, g_noise_prior = obj.noise.log_prior(noise)
        p_scale, g_scale_prior = obj.scale.log_prior(scale)
        p_ls, g_ls_prior = obj.ls.log_prior(ls)
        loss = -(lml + p_noise + p_scale + p_ls) / n
        ctx.obj = obj
        ctx.save_for_backward(ls, scale, a, d, e, k, L, w, d_ls, d_scale, d_noise)
        ctx.prior_grads = (g_ls_prior, g_scale_prior, g_noise_prior)
        return loss

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        ls, scale, a, d, e, k, L, w, d_ls, d_scale, d_noise = ctx.saved_tensors
        g_ls_prior, g_scale_prior, g_noise_prior = ctx.prior_grads
        c = -grad / a.shape[-2]  # d loss / d (lml + log priors)
        alpha = torch.linalg.solve_triangular(L.mT, w, upper=True)
        G = (alpha * alpha.mT - torch.cholesky_inverse(L)).mul_(0.5)  # d lml / d K
        g_noise = G.diagonal().sum().reshape(1) + g_noise_prior
        g_scale = (G * k).sum() + g_scale_prior
        g_constant = alpha.sum()
        # dk/d(sq) = -5/6 (1 + sqrt5 d) exp(-sqrt5 d); d(sq_ij)/d(a_i) = 2 (a_i - a_j)
        W = G.mul_((_SQRT5 * d).add_(1).mul_(e).mul_(-5.0 / 6.0 * scale))
        S = W + W.mT
        g_a = 2.0 * (S.sum(dim=-1, keepdim=True) * a - S.matmul(a))
        g_f = g_a / ls
        g_ls = g_ls_prior - (g_f * a).sum(dim=-2, keepdim=True)
        out = []
        for g, deriv in ((g_ls, d_ls), (g_scale, d_scale), (g_noise, d_noise)):
            out.append(c * (g if deriv is None else g * deriv))
        return c * g_f, *out, c * g_constant, None


class DKLObjective:
    """``-ExactMarginalLogLikelihood(gp.likelihood, gp)(gp(X), target)`` of a DKL SingleTaskGP
    (the negative log marginal likelihood plus the log priors, per point, as gpytorch adds them),
    in plain torch on the model's own raw parameters.

    gpytorch's per-call machinery (lazy kernel tensors, linear operators, priors through
    torch.distributions, autograd through every small op) costs several times the algebra at
    BO's n (docs/performance.md, "DKL training"). Every step is gpytorch's: the raw parameters
    through their constraints' transforms, the Matérn-5/2 of the mean-centred scaled features
    with gpytorch's distance expansion and clamps, ``psd_safe_cholesky`` with its jitter, the
    Gamma log densities with the priors' own constants; the GP part's gradient is written out
    (``_NegMLL``), the network's is autograd's. Value and gradient are gpytorch's up to the
    order of floating-point operations (tests/surrogates/test_dkl.py).
    """

    def __init__(self, gp: SingleTaskGP, target: Tensor):
        kernel, mean, noise = gp.covar_module, gp.mean_module, gp.likelihood.noise_covar
        scale = getattr(kernel, "base", None)
        base = getattr(scale, "base_kernel", None)
        priors = {name.rsplit(".", 1)[-1]: prior for name, _, prior, _, _ in gp.named_priors()}
        if not (
            isinstance(kernel, DeepKernel)
            and isinstance(scale, ScaleKernel)
            and type(base) is MaternKernel
            and base.nu == 2.5
            and type(mean) is ConstantMean
            and not hasattr(mean, "raw_constant_constraint")
            and set(priors) == {"noise_prior", "outputscale_prior", "lengthscale_prior"}
            and all(type(p) is GammaPrior for p in priors.values())
            and len(list(gp.named_constraints())) == 3
            and not list(gp.added_loss_terms())
        ):
            raise TypeError("DKLObjective needs the GP DKLSurrogate builds (DeepKernel, Matern-5/2, Gamma priors)")
        X = gp.train_inputs[0]
        self.ls = _Hyper.of(base.raw_lengthscale_constraint, priors["lengthscale_prior"], X)
        self.scale = _Hyper.of(scale.raw_outputscale_constraint, priors["outputscale_prior"], X)
        self.noise = _Hyper.of(noise.raw_noise_constraint, priors["noise_prior"], X)
        self.net, self.X, self.y = kernel.extractor, X, target
        self.raw = (base.raw_lengthscale, scale.raw_outputscale, noise.raw_noise, mean.raw_constant)

    def __call__(self) -> Tensor:
        return _NegMLL.apply(self.net(self.X), *self.raw, self)


def train_mll(
    gp: SingleTaskGP,
    steps: int,
    lr: float,
    target: Tensor | None = None,
    reference: bool = False,
    outputs: int = 1,
) -> float:
    """Joint Adam on the exact marginal likelihood (network, kernel, mean, noise) of ``target``
    (``n``; default the GP's own standardised targets); final loss. ``reference``: gpytorch's
    own ExactMarginalLogLikelihood and ``torch.optim.Adam``'s default loop, the computation
    ``DKLObjective`` and ``FusedAdam`` replace (the same up to rounding; tests and benchmarks).
    ``outputs``: the number of objectives, one GP each; the study trained them together on
    SumMarginalLogLikelihood, which averages their losses, so each GP's gradient is divided
    by it (which Adam's eps can tell from the undivided one)."""
    X, y = gp.train_inputs[0], gp.train_targets if target is None else target
    gp.train()
    if not reference:
        loss_of = DKLObjective(gp, y)
    else:
        mll = ExactMarginalLogLikelihood(gp.likelihood, gp)

        def loss_of() -> Tensor:
            return -mll(gp(X), y)

    opt = torch.optim.Adam(gp.parameters(), lr=lr) if reference else FusedAdam(gp.parameters(), lr=lr)
    loss = torch.tensor(float("nan"))
    for step in range(steps):
        opt.zero_grad()
        try:
            loss = loss_of()
        except (RuntimeError, ValueError) as exc:  # NaN/non-PD kernel matrices (psd_safe_cholesky)
            raise SurrogateError(f"DKL training diverged at step {step} (lr {lr}): {exc}") from exc
        (loss / outputs).backward()
        opt.step()
        _project_noise(gp)
    if steps and not torch.isfinite(loss):
        raise SurrogateError(f"DKL training diverged: marginal log-likelihood loss {float(loss)}")
    return float(loss.detach())


def _project_noise(gp: SingleTaskGP) -> None:
    """Keep an untransformed noise bound (the study's ``transform=None``) after an Adam step:
    nothing else enforces it, and noise below it soon makes the kernel matrix singular (the
    study's plain Adam could step past it; BoTorch's L-BFGS-B fits respect it as a box)."""
    noise = gp.likelihood.noise_covar
    c = noise.raw_noise_constraint
    if not c.enforced:
        with torch.no_grad():
            noise.raw_noise.clamp_(min=float(c.lower_bound))


class DKLSurrogate(Surrogate):
    """Exact GP with a Matérn-5/2 ARD kernel on the last hidden layer of a trained MLP."""

    name = "dkl"
    Settings = DKLSettings
    presets = paper.dkl_presets()

    #: train by gpytorch's ExactMarginalLogLikelihood and torch.optim.Adam's default loop (the
    #: computation train_mll's default replaces, the same up to rounding): benchmarks/dkl_fit.py
    reference = False

    def _fit(self, X: Tensor, Y: Tensor, *, seed: int, state: Any) -> Model:
        models, pre, final = [], [], []
        for j in range(Y.shape[-1]):
            gp, mse, loss = self._fit_one(X, Y[:, j : j + 1], Y.shape[-1])
            models.append(gp)
            pre.append(mse)
            final.append(loss)
        self.diagnostics_ = {"pretrain_mse": pre, "mll_loss": final}
        return models[0] if len(models) == 1 else ModelListGP(*models)

    def _fit_one(self, X: Tensor, y: Tensor, outputs: int) -> tuple[SingleTaskGP, float | None, float]:
        s: DKLSettings = self.settings
        net = mlp(X.shape[-1], s.widths, s.activation)
        fused = not self.reference
        mse = pretrain(net, X, y, s.pretrain_steps, s.pretrain_lr, fused) if s.pretrain_steps else None
        net[-1] = nn.Identity()  # drop the head: the GP acts on the last hidden layer
        kernel = DeepKernel(net, paper_kernel(s.widths[-1])).to(X)
        gp = SingleTaskGP(
            X,
            y,
            covar_module=kernel,
            likelihood=paper_likelihood(s.noise_constraint),
            outcome_transform=Standardize(m=1),
        )
        target = y.squeeze(-1) if s.mll_target == "raw" else None
        loss = train_mll(gp, s.train_steps, s.lr, target, reference=self.reference, outputs=outputs)
        return gp.eval(), mse, loss
