"""Hybrid surrogate: the mean of one surrogate with the uncertainty of another.

This is the study's "quality of mean and uncertainty" analysis as a usable surrogate, e.g.
``get_surrogate("hybrid", mean="hmc", uncertainty="gp")``. Both members are fitted on the
same data. The posterior is the uncertainty member's posterior shifted to the mean member's
mean: ``f(x) = mu_mean(x) + (f_unc(x) - mu_unc(x))``, so its joint covariance over the q points
(and, for sample-based members, its shape) is the uncertainty member's, and the sampler that
member's posterior gets from BoTorch's ``get_sampler`` (quasi-MC normals, fixed sample
indices, ...) draws the spread.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from botorch.models.model import Model
from botorch.posteriors import Posterior
from botorch.posteriors.transformed import TransformedPosterior
from botorch.sampling.base import MCSampler
from botorch.sampling.get_sampler import GetSampler, get_sampler
from torch import Tensor

from bnnbo.errors import ConfigError, DataError
from bnnbo.surrogates.base import Settings, Surrogate


@dataclass(frozen=True)
class HybridSettings(Settings):
    #: registered surrogate whose posterior mean is used
    mean: str = "hmc"
    #: registered surrogate whose posterior uncertainty (spread around its own mean) is used
    uncertainty: str = "gp"
    #: settings of the mean member, e.g. {"preset": "paper:branin"}
    mean_settings: dict[str, Any] = field(default_factory=dict)
    #: settings of the uncertainty member
    uncertainty_settings: dict[str, Any] = field(default_factory=dict)


class ShiftedPosterior(TransformedPosterior):
    """``base`` moved by ``shift`` (``batch x q x m``); samples broadcast over sample dims."""

    def __init__(self, base: Posterior, shift: Tensor):
        super().__init__(
            base,
            sample_transform=lambda s: s + shift,
            mean_transform=lambda m, v: m + shift,
            variance_transform=lambda m, v: v,
        )
        self.base, self.shift = base, shift


class ShiftedSampler(MCSampler):
    """Draws the base posterior with the base posterior's own sampler, then shifts."""

    def __init__(self, base_sampler: MCSampler):
        super().__init__(sample_shape=base_sampler.sample_shape, seed=base_sampler.seed)
        self.base_sampler = base_sampler

    def forward(self, posterior: ShiftedPosterior) -> Tensor:
        return self.base_sampler(posterior.base) + posterior.shift

    def _update_base_samples(self, posterior: Posterior, base_sampler: MCSampler) -> None:
        inner = base_sampler.base_sampler if isinstance(base_sampler, ShiftedSampler) else base_sampler
        self.base_sampler._update_base_samples(getattr(posterior, "base", posterior), inner)


@GetSampler.register(ShiftedPosterior)
def _get_shifted_sampler(posterior: ShiftedPosterior, sample_shape, *, seed=None) -> ShiftedSampler:
    return ShiftedSampler(get_sampler(posterior.base, sample_shape=sample_shape, seed=seed))


class HybridModel(Model):
    """A botorch Model combining two fitted models with the same number of outputs."""

    def __init__(self, mean_model: Model, uncertainty_model: Model):
        super().__init__()
        if mean_model.num_outputs != uncertainty_model.num_outputs:
            raise DataError(
                f"hybrid members disagree on outputs: {mean_model.num_outputs} vs {uncertainty_model.num_outputs}"
            )
        self.mean_model, self.uncertainty_model = mean_model, uncertainty_model

    @property
    def num_outputs(self) -> int:
        return self.uncertainty_model.num_outputs

    def posterior(
        self,
        X: Tensor,
        output_indices: list[int] | None = None,
        observation_noise: bool | Tensor = False,
        posterior_transform: Any = None,
        **kw: Any,
    ):
        """``batch x q x d`` -> the uncertainty member's posterior, re-centred on the mean member's."""
        mu = self.mean_model.posterior(X, output_indices=output_indices).mean
        base = self.uncertainty_model.posterior(X, output_indices=output_indices, observation_noise=observation_noise)
        post = ShiftedPosterior(base, mu - base.mean)
        return post if posterior_transform is None else posterior_transform(post)


class HybridSurrogate(Surrogate):
    """Fits both members; the model's mean is ``mean``'s, its uncertainty ``uncertainty``'s."""

    name = "hybrid"
    Settings = HybridSettings

    def __init__(self, settings: HybridSettings | None = None, **overrides: Any):
        super().__init__(settings, **overrides)
        from bnnbo.surrogates import get_surrogate  # the registry imports this module lazily

        s: HybridSettings = self.settings
        for role in ("mean", "uncertainty"):
            if getattr(s, role) == "hybrid":
                raise ConfigError(f"hybrid: setting {role!r} = 'hybrid'; expected another surrogate")
        self.members = {
            "mean": get_surrogate(s.mean, **s.mean_settings),
            "uncertainty": get_surrogate(s.uncertainty, **s.uncertainty_settings),
        }

    def _fit(self, X: Tensor, Y: Tensor, *, seed: int, state: Any) -> Model:
        state = state if isinstance(state, dict) else {}
        models = {role: sur.fit(X, Y, seed=seed, state=state.get(role)) for role, sur in self.members.items()}
        self.state_ = {role: sur.state_ for role, sur in self.members.items()}
        self.diagnostics_ = {role: dict(sur.diagnostics_) for role, sur in self.members.items()}
        return HybridModel(models["mean"], models["uncertainty"])
