"""Deep kernel learning (DKL): an exact GP on the features of a neural network.

The study's recipe (bnn-bo ``models/dkl.py``): an MLP ``d -> widths -> 1`` is pre-trained by
MSE on the standardised y, its 1-unit head is removed, and a Matérn-5/2 ARD GP (the study's
Gamma priors) acts on the last hidden layer. Network and GP hyperparameters are then trained
jointly by Adam on the exact marginal likelihood (the study's of the raw y, bnnbo's default
of the standardised y). Several objectives: one DKL GP each.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import torch
from botorch.models import ModelListGP, SingleTaskGP
from botorch.models.model import Model
from botorch.models.transforms.outcome import Standardize
from gpytorch.kernels import Kernel
from gpytorch.mlls import ExactMarginalLogLikelihood
from torch import Tensor, nn

from bnnbo import paper
from bnnbo.errors import SurrogateError
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


def pretrain(net: nn.Sequential, X: Tensor, y: Tensor, steps: int, lr: float) -> float:
    """Adam on the MSE to standardised ``y`` (``n x 1``); returns the final MSE."""
    mean, std = y_moments(y)
    z = (y - mean) / std
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    loss = torch.tensor(float("nan"))
    for _ in range(steps):
        opt.zero_grad()
        loss = ((net(X) - z) ** 2).mean()
        loss.backward()
        opt.step()
    return float(loss.detach())


def train_mll(gp: SingleTaskGP, steps: int, lr: float, target: Tensor | None = None) -> float:
    """Joint Adam on the exact marginal likelihood (network, kernel, mean, noise) of ``target``
    (``n``; default the GP's own standardised targets); final loss."""
    mll = ExactMarginalLogLikelihood(gp.likelihood, gp)
    gp.train()
    opt = torch.optim.Adam(gp.parameters(), lr=lr)
    X, y = gp.train_inputs[0], gp.train_targets if target is None else target
    loss = torch.tensor(float("nan"))
    for step in range(steps):
        opt.zero_grad()
        try:
            loss = -mll(gp(X), y)
        except (RuntimeError, ValueError) as exc:  # NaN/non-PD kernel matrices from linear_operator
            raise SurrogateError(f"DKL training diverged at step {step} (lr {lr}): {exc}") from exc
        loss.backward()
        opt.step()
        _project_noise(gp)
    if not torch.isfinite(loss):
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

    def _fit(self, X: Tensor, Y: Tensor, *, seed: int, state: Any) -> Model:
        models, pre, final = [], [], []
        for j in range(Y.shape[-1]):
            gp, mse, loss = self._fit_one(X, Y[:, j : j + 1])
            models.append(gp)
            pre.append(mse)
            final.append(loss)
        self.diagnostics_ = {"pretrain_mse": pre, "mll_loss": final}
        return models[0] if len(models) == 1 else ModelListGP(*models)

    def _fit_one(self, X: Tensor, y: Tensor) -> tuple[SingleTaskGP, float | None, float]:
        s: DKLSettings = self.settings
        net = mlp(X.shape[-1], s.widths, s.activation)
        mse = pretrain(net, X, y, s.pretrain_steps, s.pretrain_lr) if s.pretrain_steps else None
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
        loss = train_mll(gp, s.train_steps, s.lr, target)
        return gp.eval(), mse, loss
