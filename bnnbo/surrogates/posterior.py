"""A BoTorch Model and Posterior over S stored networks (MCMC samples or ensemble members).

``SampleModel.posterior(X)`` returns a ``SamplePosterior``: a mixture of the S networks'
functions (plus optional Gaussian observation noise). Its draws pick network indices and
evaluate all picked networks in ONE batched forward pass (``MLPSpec.forward``), differentiable
in X. Acquisition functions get a ``SampleIndexSampler`` (registered with BoTorch's
``get_sampler``) whose indices are drawn once from a seeded generator and then held fixed,
so the acquisition is a deterministic, smooth function of X for L-BFGS-B.

Multi-output: one network with ``m`` outputs (as the study's HMC did), not one network per
objective: a single forward pass serves all objectives and joint draws keep whatever
correlation between objectives the posterior has; per-output y standardisation puts the
objectives on one scale for the shared likelihood.
"""

from __future__ import annotations

import torch
from botorch.exceptions.errors import UnsupportedError
from botorch.models.model import Model
from botorch.posteriors import Posterior
from botorch.sampling.base import MCSampler
from botorch.sampling.get_sampler import GetSampler
from torch import Tensor

from bnnbo.surrogates.networks.mlp import MLPSpec

#: networks evaluated at once for mean / variance (bounds the activations' memory)
_CHUNK = 64

#: MC samples (networks) per evaluation of a "default"-mode acquisition on a SampleModel.
#: Fewer (64) made the acquisition step cheaper but its candidates reached lower acquisition
#: values (docs/performance.md, "One BO iteration with a sample-based surrogate")
ACQUISITION_SAMPLES = 128

#: the two-stage acquisition search (acquisition.py): raw samples and L-BFGS-B from every
#: restart on the first COARSE_SAMPLES of the acquisition's networks, then the best
#: POLISHED_RESTARTS of those optima polished on all of them: most evaluations cost a
#: fraction of a full one, and the batch returned is a local optimum of the full acquisition
#: (measured against the one-stage search in docs/performance.md, "One BO iteration with a
#: sample-based surrogate"); ``SampleModel.coarse_samples = None`` gives the one-stage search
COARSE_SAMPLES = 16
POLISHED_RESTARTS = 2
#: L-BFGS-B iterations of that polish at most (None: the optimiser preset's maxiter)
POLISH_MAXITER: int | None = None
#: the greedy search (acquisition.py, ``_optimize_greedy_two_stage``; used for q > 1 where a
#: model's ``greedy_batches`` is set, or with a "sequential" preset): "batch" chooses every
#: point of the batch in turn on the first COARSE_SAMPLES networks, the points chosen so far
#: pending, at most GREEDY_MAXITER L-BFGS-B iterations each, then polishes the whole batch
#: jointly on all networks (at most GREEDY_POLISH_MAXITER iterations); "point" runs the
#: two-stage search for every point instead (slower: docs/performance.md, round five).
#: GREEDY_RESTARTS: restarts per point (None: the optimiser preset's)
GREEDY_POLISH = "batch"
GREEDY_RESTARTS: int | None = 4
GREEDY_MAXITER: int | None = 10
GREEDY_POLISH_MAXITER: int | None = 20


class SampleModel(Model):
    """S stored networks with an output affine map back to raw units.

    Args:
        spec: the architecture. samples: ``S x P`` weights (any float dtype; the forward
            runs in it, results come back in X's dtype).
        y_mean, y_std: ``m`` output de-standardisation (zeros / ones if none).
        noise_std: ``m`` observation noise std in raw units, added to draws when
            ``observation_noise`` is set here or asked for in ``posterior``.
        greedy_batches: build q-batches greedily (``self.greedy_batches``).
    """

    def __init__(
        self,
        spec: MLPSpec,
        samples: Tensor,
        y_mean: Tensor,
        y_std: Tensor,
        noise_std: Tensor,
        observation_noise: bool = False,
        greedy_batches: bool = False,
    ):
        super().__init__()
        self.spec = spec
        # only the evaluation form is kept (see MLPSpec.to_sigmoid_form): one copy of S x P
        self.register_buffer("eval_weights", spec.to_sigmoid_form(samples.detach()))
        self.register_buffer("y_mean", y_mean.detach())
        self.register_buffer("y_std", y_std.detach())
        self.register_buffer("noise_std", noise_std.detach())
        self.observation_noise = observation_noise
        self._cache: tuple[Tensor, Tensor] | None = None
        #: draws evaluate each distinct network once (False: the pre-issue-19 path, kept
        #: for benchmarks/iteration_cost.py's side-by-side comparison)
        self.fast_draws = True
        #: networks per evaluation in the optimiser's first stage (None or >= the full
        #: acquisition's count: one stage on all of them, main before the two-stage search)
        self.coarse_samples: int | None = COARSE_SAMPLES
        #: restarts polished on all networks after that stage
        self.polished_restarts: int = POLISHED_RESTARTS
        #: L-BFGS-B iterations of the polish at most (None: the preset's maxiter)
        self.polish_maxiter: int | None = POLISH_MAXITER
        #: q > 1, one objective, continuous space: the batch built greedily, not jointly
        #: (GREEDY_POLISH); set by the surrogates whose iteration it made cheaper at no loss
        self.greedy_batches = greedy_batches
        #: the greedy search's settings (GREEDY_POLISH, GREEDY_RESTARTS, GREEDY_MAXITER,
        #: GREEDY_POLISH_MAXITER)
        self.greedy_polish: str = GREEDY_POLISH
        self.greedy_restarts: int | None = GREEDY_RESTARTS
        self.greedy_maxiter: int | None = GREEDY_MAXITER
        self.greedy_polish_maxiter: int | None = GREEDY_POLISH_MAXITER
        #: qLogNEI computes each network's best value over the baseline once, not at every
        #: evaluation (False: recomputed with the candidates, as before; same values)
        self.baseline_once = True
        #: BoTorch's rerun of the first stage from new raw samples when a restart's line
        #: search fails (True: as before; its optima are only the polish's starting points)
        self.retry_coarse = False

    @property
    def acquisition_samples(self) -> int:
        """MC samples a "default"-mode acquisition draws: every network is one function
        draw, so with fewer networks than ACQUISITION_SAMPLES each is drawn once (the
        mixture's exact expectation)."""
        return min(ACQUISITION_SAMPLES, self.num_samples)

    @property
    def num_outputs(self) -> int:
        return self.spec.d_out

    @property
    def batch_shape(self) -> torch.Size:
        return torch.Size([])

    @property
    def num_samples(self) -> int:
        return self.eval_weights.shape[0]

    @property
    def samples(self) -> Tensor:
        """The stored networks' weights, ``S x P`` (recomputed from the evaluation form)."""
        return self.spec.to_sigmoid_form(self.eval_weights, inverse=True)

    def posterior(
        self,
        X: Tensor,
        output_indices: list[int] | None = None,
        observation_noise: bool | Tensor = False,
        posterior_transform=None,
        **kwargs,
    ) -> SamplePosterior:
        """``X``: ``batch x q x d`` (any batch rank, or ``q x d``)."""
        if posterior_transform is not None:
            raise UnsupportedError("SampleModel does not support posterior transforms; use an objective")
        noise = self.observation_noise or (observation_noise is not False and observation_noise is not None)
        return SamplePosterior(self, X, output_indices, bool(noise))

    def weights(self, indices: Tensor) -> Tensor:
        """``k x P`` evaluation-form weights of the given sample indices; the last gather is
        cached because a fixed-index sampler asks for the same indices at every call."""
        if self._cache is not None and torch.equal(self._cache[0], indices):
            return self._cache[1]
        theta = self.eval_weights.index_select(0, indices)
        self._cache = (indices.clone(), theta)
        return theta

    def evaluate(self, theta: Tensor, X: Tensor, eval_form: bool = False) -> Tensor:
        """Raw-unit outputs of ``k`` networks at ``batch x q x d`` -> ``k x batch x q x m``.

        ``theta``: ``k x P`` weights, or evaluation-form ones (``eval_weights``) if
        ``eval_form``."""
        f = self.spec.forward(theta, X.reshape(-1, X.shape[-1]), sigmoid_form=eval_form)
        f = f.to(X.dtype) * self.y_std.to(X) + self.y_mean.to(X)
        return f.reshape(theta.shape[0], *X.shape[:-1], self.num_outputs)


class SamplePosterior(Posterior):
    """Mixture over a SampleModel's S networks at fixed inputs ``batch x q x d``."""

    def __init__(self, model: SampleModel, X: Tensor, output_indices: list[int] | None, noise: bool):
        self.model, self.X, self.noise = model, X, noise
        self._outputs = output_indices
        self._moments: tuple[Tensor, Tensor] | None = None

    @property
    def device(self) -> torch.device:
        return self.X.device

    @property
    def dtype(self) -> torch.dtype:
        return self.X.dtype

    @property
    def num_samples(self) -> int:
        return self.model.num_samples

    @property
    def num_outputs(self) -> int:
        return self.model.num_outputs if self._outputs is None else len(self._outputs)

    def _extended_shape(self, sample_shape: torch.Size | None = None) -> torch.Size:
        shape = torch.Size(sample_shape or ())
        return shape + self.X.shape[:-1] + torch.Size([self.num_outputs])

    def draw(self, indices: Tensor, noise: Tensor | None = None) -> Tensor:
        """Evaluate the networks ``indices`` (any shape ``s``) -> ``s x batch x q x m``.

        ``noise``: standard-normal base samples broadcastable to that shape, used when the
        posterior includes observation noise (fresh ones are drawn when None)."""
        flat = indices.reshape(-1).to(self.model.eval_weights.device)
        inverse = None
        if self.model.fast_draws:
            # many draws of few networks (e.g. baseline pruning's 2048): each network once
            uniq, inv = torch.unique(flat, return_inverse=True)
            if uniq.numel() < flat.numel():
                flat, inverse = uniq, inv
        f = self.model.evaluate(self.model.weights(flat), self.X, eval_form=True)
        if inverse is not None:
            f = f.index_select(0, inverse)
        f = f.reshape(*indices.shape, *f.shape[1:])
        if self.noise:
            if noise is None:
                noise = torch.randn(f.shape, dtype=f.dtype, device=f.device)
            f = f + noise * self.model.noise_std.to(f)
        return f if self._outputs is None else f[..., self._outputs]

    def rsample(self, sample_shape: torch.Size | None = None) -> Tensor:
        """I.i.d. draws (indices with replacement) from the global torch RNG."""
        shape = torch.Size([1]) if sample_shape is None else torch.Size(sample_shape)
        idx = torch.randint(self.num_samples, shape)
        return self.draw(idx)

    def rsample_from_base_samples(self, sample_shape: torch.Size, base_samples: Tensor) -> Tensor:
        """``base_samples``: sample indices of shape ``sample_shape``."""
        return self.draw(base_samples.reshape(sample_shape))

    @property
    def mean(self) -> Tensor:
        """``batch x q x m``, over all S networks."""
        return self._mixture_moments()[0]

    @property
    def variance(self) -> Tensor:
        """``batch x q x m``: the networks' spread (+ noise variance if included)."""
        var = self._mixture_moments()[1]
        if self.noise:
            noise = self.model.noise_std.to(var) ** 2
            var = var + (noise if self._outputs is None else noise[self._outputs])
        return var

    def _mixture_moments(self) -> tuple[Tensor, Tensor]:
        if self._moments is None:
            S, total, total_sq = self.num_samples, 0.0, 0.0
            for start in range(0, S, _CHUNK):  # chunks bound memory; each is one batched pass
                theta = self.model.eval_weights[start : start + _CHUNK]
                f = self.model.evaluate(theta, self.X, eval_form=True).double()
                total = total + f.sum(0)
                total_sq = total_sq + (f * f).sum(0)
            mean = total / S
            var = (total_sq / S - mean * mean).clamp(min=0.0)
            if self._outputs is not None:
                mean, var = mean[..., self._outputs], var[..., self._outputs]
            self._moments = (mean.to(self.dtype), var.to(self.dtype))
        return self._moments


def balanced_indices(n: int, S: int, generator: torch.Generator) -> Tensor:
    """``n`` indices into S samples: without replacement when ``n <= S``, else every sample
    ``floor(n/S)`` or ``ceil(n/S)`` times, shuffled (a stratified draw of the mixture)."""
    perm = torch.randperm(S, generator=generator)
    if n <= S:
        return perm[:n]
    idx = perm[torch.arange(n) % S]
    return idx[torch.randperm(n, generator=generator)]


class SampleIndexSampler(MCSampler):
    """Seeded, fixed sample indices (and noise base samples) for a SamplePosterior.

    The indices are drawn once per sampler from ``torch.Generator().manual_seed(seed)`` and
    reused by every call, like a quasi-MC sampler's base samples. Noise base samples are
    ``sample_shape x q x m`` and broadcast over t-batches, so a candidate's value does not
    depend on its position in the batch.
    """

    def __init__(self, sample_shape: torch.Size, seed: int | None = None, of: int | None = None):
        """``of``: draw as a sampler of ``of`` samples would and keep the first
        ``sample_shape``'s worth (``subset``)."""
        super().__init__(sample_shape=sample_shape, seed=seed)
        self._of = of

    def subset(self, k: int) -> SampleIndexSampler:
        """A sampler whose draws are this one's first ``k`` (indices and noise): the same
        networks, fewer of them."""
        if self.sample_shape.numel() != self.sample_shape[0] or not 1 <= k <= self.sample_shape[0]:
            raise ValueError(f"subset of {k} samples from a sampler of shape {tuple(self.sample_shape)}")
        return SampleIndexSampler(torch.Size([k]), seed=self.seed, of=self._of or self.sample_shape[0])

    def forward(self, posterior: SamplePosterior) -> Tensor:
        S = posterior.num_samples
        if self.base_samples is None or getattr(self, "_num_samples", None) != S:
            gen = torch.Generator().manual_seed(self.seed)
            n = self._of or self.sample_shape.numel()
            idx = balanced_indices(n, S, gen)[: self.sample_shape.numel()].view(self.sample_shape)
            self.register_buffer("base_samples", idx)
            self._num_samples = S
        noise = self._noise(posterior) if posterior.noise else None
        return posterior.draw(self.base_samples, noise)

    def _noise(self, posterior: SamplePosterior) -> Tensor:
        q_m = posterior.X.shape[-2:-1] + torch.Size([posterior.model.num_outputs])
        gen = torch.Generator().manual_seed(self.seed + 1)
        shape = self.sample_shape if self._of is None else torch.Size([self._of])
        z = torch.randn(shape + q_m, generator=gen, dtype=torch.float64)[: self.sample_shape.numel()]
        batch_ones = (1,) * (posterior.X.dim() - 2)
        return z.view(*self.sample_shape, *batch_ones, *q_m).to(posterior.X)

    def _update_base_samples(self, posterior: Posterior, base_sampler: MCSampler) -> None:
        """Nothing to update: indices do not depend on the posterior's shape."""


@GetSampler.register(SamplePosterior)
def _get_sample_index_sampler(
    posterior: SamplePosterior, sample_shape: torch.Size, *, seed: int | None = None
) -> SampleIndexSampler:
    return SampleIndexSampler(sample_shape=sample_shape, seed=seed)
