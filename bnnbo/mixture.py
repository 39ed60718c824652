"""A weighted mixture of fitted models, and the acquisition that mixes theirs.

``auto`` with ``combine="mix"`` serves ``MixtureModel``: its candidates' models and weights
``w_i``, i.e. the predictive distribution ``sum_i w_i p_i``. Expected improvement is linear in
the predictive distribution, for one point and for a q-batch (its MC estimate is linear in the
joint samples), and so is expected hypervolume improvement, so under the mixture

    EI_mix(x) = sum_i w_i EI_i(x),   log EI_mix(x) = logsumexp_i(log w_i + log EI_i(x)).

``build_acquisition`` therefore builds each candidate's own acquisition (the GP keeps its
analytic LogEI, every model its own sampler) and ``MixtureAcquisition`` adds them in log space:
no mixture sampler is needed. ``MixtureModel.posterior`` exists for the other users of a model
(scoring, exploration): exact mixture moments and ancestral samples.
"""

from __future__ import annotations

from typing import Any

import torch
from botorch.acquisition.acquisition import AcquisitionFunction
from botorch.acquisition.objective import PosteriorTransform
from botorch.models.model import Model
from botorch.posteriors import Posterior
from torch import Tensor


class MixtureModel(Model):
    """Fitted models with weights (positive, summing to one); ``labels`` name them."""

    weights: Tensor

    def __init__(self, models: list[Model], weights: Tensor | list[float], labels: list[str] | None = None):
        super().__init__()
        w = torch.as_tensor(weights, dtype=torch.float64).reshape(-1)
        if len(models) != w.numel() or not len(models):
            raise ValueError(f"{len(models)} models and {w.numel()} weights")
        if not (w > 0).all() or abs(float(w.sum()) - 1.0) > 1e-9:
            raise ValueError(f"weights must be positive and sum to 1, got {w.tolist()}")
        self.models = torch.nn.ModuleList(models)
        self.register_buffer("weights", w)
        self.labels = list(labels) if labels is not None else [str(i) for i in range(len(models))]

    @property
    def components(self) -> list[Any]:
        return list(self.models)

    @property
    def num_outputs(self) -> int:
        return int(self.components[0].num_outputs)

    @property
    def heaviest(self) -> int:
        return int(self.weights.argmax())

    def posterior(
        self,
        X: Tensor,
        output_indices: list[int] | None = None,
        observation_noise: bool | Tensor = False,
        posterior_transform: PosteriorTransform | None = None,
    ) -> Posterior:
        posts = [
            m.posterior(
                X,
                output_indices=output_indices,
                observation_noise=observation_noise,
                posterior_transform=posterior_transform,
            )
            for m in self.components
        ]
        return MixturePosterior(posts, self.weights)


class MixturePosterior(Posterior):
    """``sum_i w_i p_i``: exact mean and variance; samples draw a component per sample."""

    def __init__(self, posteriors: list[Any], weights: Tensor):
        self.posteriors = posteriors
        self.weights = weights

    @property
    def device(self) -> torch.device:
        return self.posteriors[0].device

    @property
    def dtype(self) -> torch.dtype:
        return self.posteriors[0].dtype

    def _w(self, like: Tensor) -> Tensor:
        return self.weights.to(like).reshape(-1, *([1] * like.ndim))

    @property
    def mean(self) -> Tensor:
        means = torch.stack([p.mean for p in self.posteriors])
        return (self._w(means[0]) * means).sum(0)

    @property
    def variance(self) -> Tensor:
        means = torch.stack([p.mean for p in self.posteriors])
        second = torch.stack([p.variance for p in self.posteriors]) + means.square()
        w = self._w(means[0])
        return ((w * second).sum(0) - (w * means).sum(0).square()).clamp_min(0.0)

    def rsample(self, sample_shape: torch.Size | None = None) -> Tensor:
        shape = torch.Size([1]) if sample_shape is None else torch.Size(sample_shape)
        draws = torch.stack([p.rsample(shape) for p in self.posteriors])  # k x shape x ...
        pick = torch.multinomial(self.weights, shape.numel() or 1, replacement=True).reshape(shape)
        index = pick.reshape(1, *shape, *([1] * (draws.ndim - 1 - len(shape)))).expand(1, *draws.shape[1:])
        return draws.gather(0, index.to(draws.device)).squeeze(0)


class MixtureAcquisition(AcquisitionFunction):
    """``log sum_i w_i exp(acq_i(X))`` of the components' log-scale acquisitions (LogEI,
    qLogNEI, LogEHVI, qLogNEHVI): the log of the expected improvement under the mixture.
    ``log_scale=False``: ``sum_i w_i acq_i(X)`` of plain ones (qEI, qEHVI)."""

    log_w: Tensor

    def __init__(self, model: MixtureModel, parts: list[AcquisitionFunction], log_scale: bool = True):
        super().__init__(model=model)
        self.log_scale = log_scale
        self.parts = torch.nn.ModuleList(parts)
        self.register_buffer("log_w", model.weights.log())
        # the restarts' lengthscale units: the heaviest component's, as if it served alone
        inv_ls = getattr(parts[model.heaviest], "inv_ls", None)
        if isinstance(inv_ls, Tensor):
            self.inv_ls = inv_ls
        best = [getattr(p, "best_f", None) for p in parts]
        if all(isinstance(b, Tensor) for b in best):
            self.best_f = best[model.heaviest]
        self.X_pending = None  # type: ignore[assignment]  # BoTorch's own default

    def forward(self, X: Tensor) -> Tensor:
        values = torch.stack([p(X) for p in self._acqs()])
        log_w = self.log_w.to(values).reshape(-1, *([1] * (values.ndim - 1)))
        if not self.log_scale:
            return (log_w.exp() * values).sum(0)
        return torch.logsumexp(values + log_w, 0)

    @property
    def has_fused_gradient(self) -> bool:
        return self.log_scale and any(getattr(p, "has_fused_gradient", False) for p in self._acqs())

    def _acqs(self) -> list[Any]:
        return list(self.parts)

    @torch.no_grad()
    def value_and_grad(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Value at ``n x d`` points and its gradient: fused components by hand, others by autograd."""
        values, grads = [], []
        for p in self._acqs():
            if getattr(p, "has_fused_gradient", False):
                v, g = p.value_and_grad(x)
            else:
                with torch.enable_grad():
                    xx = x.detach().clone().requires_grad_(True)
                    v = p(xx.unsqueeze(-2))
                    (g,) = torch.autograd.grad(v.sum(), xx)
                v = v.detach()
            values.append(v)
            grads.append(g)
        logits = torch.stack(values) + self.log_w.to(x).unsqueeze(-1)  # k x n
        value = torch.logsumexp(logits, 0)
        share = torch.softmax(logits, 0)  # d value / d value_i
        return value, (share.unsqueeze(-1) * torch.stack(grads)).sum(0)

    def set_X_pending(self, X_pending: Tensor | None = None) -> None:
        self.X_pending = X_pending  # type: ignore[assignment]
        for p in self._acqs():
            p.set_X_pending(X_pending)
