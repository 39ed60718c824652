"""Finite-width Bayesian neural network sampled with full-batch HMC, all chains at once.

Model (the study's): an MLP with i.i.d. N(0, prior_var) weights and biases, a Gaussian
likelihood with fixed noise std ``noise_std`` (the study's config key ``noise_var`` held this
std), optionally on z-scored y. Each chain starts from its own random network pre-trained
by Adam toward the MAP, then runs leapfrog HMC with a Metropolis-Hastings correction and
``n_leapfrog = min(max_leapfrog, ceil(path_length / step_size))``; the step size is adapted
by dual averaging toward ``target_accept`` during burn-in.

Our changes to the study's sampler (all switched off by the ``paper:*`` presets, which also
switch on the study's path-length halving in burn-in and turn the divergence abort off):
the output layer integrated out (HMC moves the hidden weights, each kept network's output
layer is drawn from its Gaussian conditional: ``collapse.py``); ``n_chains`` chains (each
running ``n_burn_in + n_samples`` transitions) as one batched computation, nearly free on a
GPU; float32; a jittered step size; a per-layer mass from the curvature at the start (or
a diagonal one adapted in burn-in); and warm starts: a BO run's next fit starts its chains
where the previous fit's ended (re-expressed in the new y standardisation), with a shorter
burn-in started from the previous step size, and no pre-training.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import partial
from typing import Any, Literal, NamedTuple

import torch
from botorch.models.model import Model
from torch import Tensor

from bnnbo import paper
from bnnbo.errors import ConfigError, SurrogateError
from bnnbo.surrogates.networks import collapse
from bnnbo.surrogates.base import Settings, Surrogate
from bnnbo.surrogates.networks.bnn_common import (
    FitData,
    adam_map,
    check_settings,
    prepare,
    rescale_outputs,
    spec_key,
)
from bnnbo.surrogates.networks.hmc_run import ChainRun, run_chains
from bnnbo.surrogates.networks.mcmc_stats import summarise
from bnnbo.surrogates.networks.mlp import MLPSpec
from bnnbo.surrogates.posterior import SampleModel
from bnnbo.surrogates.networks.samplers import DiagMetric, HMCState, piecewise_inv_mass


@dataclass(frozen=True)
class HMCSettings(Settings):
    #: hidden layer widths; () gives Bayesian linear regression
    widths: tuple[int, ...] = (128, 128, 128)
    activation: Literal["tanh", "relu"] = "tanh"
    #: variance of the N(0, prior_var) prior on every weight and bias
    prior_var: float = 1.0
    #: fixed likelihood noise std (of standardised y when standardize_y)
    noise_std: float = 0.1
    standardize_y: bool = True
    #: Adam steps toward the MAP before sampling (per chain, all chains at once)
    pretrain_steps: int = 1000
    pretrain_lr: float = 1e-3
    #: chains, run as one batched computation; None: 1 on a CPU, 4 on a GPU. With the
    #: output layer integrated out one chain already beats the study's sampler in
    #: held-out NLL, and each further chain costs more on a CPU, while a GPU runs several
    #: for the price of one (docs/performance.md, "BNN surrogates")
    n_chains: int | None = None
    #: burn-in transitions per chain
    n_burn_in: int = 500
    #: kept transitions per chain (before thinning)
    n_samples: int = 500
    #: initial step size (adapted during burn-in when adapt_step_size)
    step_size: float = 0.02
    path_length: float = 0.01
    max_leapfrog: int = 200
    #: each transition's step size is drawn uniformly within +-step_jitter of the adapted one
    step_jitter: float = 0.2
    target_accept: float = 0.8
    adapt_step_size: bool = True
    #: integrate the output layer out: HMC moves the hidden weights only and each kept
    #: network's output layer is drawn from its Gaussian conditional (collapse.py); the
    #: study sampled all weights, which needs much smaller steps (docs/performance.md)
    collapse_output_layer: bool = True
    #: mass matrix: "identity" (the study's); "layers", one inverse mass per layer's W and b
    #: from the curvature at the start (the stiff directions sit in the first layer: it
    #: lengthens the step); "diagonal", estimated within chains during burn-in (it did not
    #: lengthen the step); None: "layers" with the output layer integrated out, else
    #: "identity" (sampling all weights, "layers" gave a worse held-out NLL); the figures are
    #: in docs/performance.md
    metric: Literal["identity", "layers", "diagonal"] | None = None
    #: start from the previous fit's chains when the run passes them back
    warm_start: bool = True
    #: burn-in transitions per chain after a warm start
    warm_burn_in: int = 100
    #: kept transitions per chain after a warm start, at most n_samples (None: n_samples).
    #: 250 makes a warm fit about 40% cheaper but its held-out NLL was worse on 4 of 5 seeds
    #: (docs/performance.md, "One BO iteration ..., round two"): not the default
    warm_samples: int | None = None
    #: keep every thin-th post-burn-in state of each chain; None: every C-th with C chains,
    #: so n_samples networks are stored whatever the chain count (the study's 500)
    thin: int | None = None
    dtype: Literal["float32", "float64"] = "float32"
    #: add N(0, noise_std^2) observation noise to posterior draws
    observation_noise: bool = False
    #: raise SurrogateError when a larger fraction of kept transitions diverged (1.0: never,
    #: as the study: the fraction is then only recorded in diagnostics_)
    max_divergent: float = 0.5
    #: the study's burn-in rule: halve path_length whenever path_length / step_size > 200
    #: (bnnbo's default keeps it and caps the leapfrog count at max_leapfrog instead)
    halve_path_length: bool = False

    def __post_init__(self) -> None:
        check_settings(
            "hmc",
            self,
            positive=("prior_var", "noise_std", "pretrain_lr", "step_size", "path_length"),
            at_least_one=("n_samples", "max_leapfrog"),
            non_negative=("pretrain_steps", "n_burn_in", "warm_burn_in"),
        )
        for name in ("n_chains", "thin", "warm_samples"):
            value = getattr(self, name)
            if value is not None and not (isinstance(value, int) and value >= 1):
                raise ConfigError(f"hmc: setting {name!r} = {value!r}; expected an integer >= 1")
        if not 0 < self.target_accept < 1:
            raise ConfigError(f"hmc: setting 'target_accept' = {self.target_accept}; expected a number in (0, 1)")
        if not 0 <= self.step_jitter < 1:
            raise ConfigError(f"hmc: setting 'step_jitter' = {self.step_jitter}; expected a number in [0, 1)")
        if not 0 <= self.max_divergent <= 1:
            raise ConfigError(f"hmc: setting 'max_divergent' = {self.max_divergent}; expected a number in [0, 1]")

    @property
    def mass(self) -> str:
        """The mass matrix used (``metric``, or its default for the sampler)."""
        return self.metric or ("layers" if self.collapse_output_layer else "identity")

    def chains_on(self, device: torch.device) -> int:
        """The number of chains run on ``device``."""
        return self.n_chains or (1 if device.type == "cpu" else 4)

    def thin_for(self, n_chains: int) -> int:
        """The thinning used with ``n_chains`` chains (``thin``, or ``n_chains`` when unset)."""
        return self.thin or n_chains


#: a warm start adapts its step size only with at least this many burn-in steps per chain
MIN_ADAPT_BURN_IN = 40


class HMCSurrogate(Surrogate):
    """HMC BNN; ``state_`` holds the final chain positions for the next fit's warm start."""

    name = "hmc"
    Settings = HMCSettings
    presets = paper.hmc_presets()

    def _fit(self, X: Tensor, Y: Tensor, *, seed: int, state: Any) -> Model:
        s: HMCSettings = self.settings
        data = prepare(X, Y, s.standardize_y, s.dtype)
        spec = MLPSpec(X.shape[-1], s.widths, Y.shape[-1], s.activation)
        gen = torch.Generator(device=X.device).manual_seed(seed)
        model = {"X": data.X, "Y": data.Y, "noise_var": s.noise_std**2, "prior_var": s.prior_var}
        if s.collapse_output_layer:
            potential = partial(collapse.potential_and_grad, spec, **model)
            n_moved = collapse.hidden_size(spec)
        else:
            potential, n_moved = partial(spec.potential_and_grad, **model), spec.num_params
        C = s.chains_on(data.X.device)
        t0 = time.perf_counter()
        start = self._start(spec, data, gen, state, n_moved, C)
        if s.mass == "layers" and start.metric.inv_mass is None and n_moved:
            sizes = (spec.body if s.collapse_output_layer else spec).piece_sizes
            inv = piecewise_inv_mass(potential, start.theta, sizes, gen, 1 / s.prior_var)
            start = start._replace(metric=DiagMetric.of(inv))
        t1 = time.perf_counter()
        # a warm start's short burn-in is too short for dual averaging; the previous step
        # size was adapted to a posterior that one new point barely changed
        adapt = s.adapt_step_size and not (start.warm and start.burn_in < MIN_ADAPT_BURN_IN)
        complete = None
        if s.collapse_output_layer:  # kept states get output layers from their own factors

            def complete(state: HMCState) -> Tensor:
                w = collapse.draw_output_layer(state.aux, s.noise_std**2, s.prior_var, gen)
                return collapse.join(state.position, w)

        run = run_chains(
            potential,
            start.theta,
            gen,
            s,
            start.burn_in,
            min(s.warm_samples or s.n_samples, s.n_samples) if start.warm else s.n_samples,
            start.step_size,
            start.metric,
            thin=s.thin_for(C),
            adapt_step_size=adapt,
            complete=complete,
        )
        self._check(run)
        samples = run.samples.flatten(0, 1)
        final = run.state.position if complete is None else complete(run.state)
        self._record(run, final, spec, data, start.warm, (t1 - t0, time.perf_counter() - t1))
        return SampleModel(
            spec,
            samples,
            data.y_mean,
            data.y_std,
            s.noise_std * data.y_std,
            observation_noise=s.observation_noise,
            # q > 1: the batch built greedily (docs/performance.md, issue 19, round five)
            greedy_batches=True,
        )

    def _record(
        self,
        run: ChainRun,
        final: Tensor,
        spec: MLPSpec,
        data: FitData,
        warm: bool,
        seconds: tuple[float, float],
    ) -> None:
        """``state_`` for the next fit's warm start (``final``: the chains' last whole
        networks) and this fit's ``diagnostics_``."""
        self.state_ = {
            "kind": "hmc",
            "spec": spec_key(spec),
            "position": final.cpu(),
            "step_size": run.step_size,
            "inv_mass": _cpu(run.metric.inv_mass),
            "y_mean": data.y_mean.cpu(),
            "y_std": data.y_std.cpu(),
        }
        self.diagnostics_ = {
            "warm_start": warm,
            "n_chains": run.state.position.shape[0],
            "collapsed_output_layer": self.settings.collapse_output_layer,
            "pretrain_seconds": seconds[0],
            "sample_seconds": seconds[1],
            **run.stats,
            "divergent_fraction": run.stats["divergences"] / max(run.stats["transitions"], 1),
            **summarise(run.outputs),
        }

    def _start(self, spec: MLPSpec, data: FitData, gen: torch.Generator, state: Any, n_moved: int, C: int) -> _Start:
        """Cold: fresh networks pre-trained toward the MAP. Warm: the previous chains.
        The sampler moves the first ``n_moved`` weights (all, or all but the output layer)."""
        s: HMCSettings = self.settings
        dt, dev = data.X.dtype, data.X.device
        if (
            s.warm_start
            and isinstance(state, dict)
            and state.get("kind") == "hmc"
            and state.get("spec") == spec_key(spec)
        ):
            prev = state["position"].to(dev, dt)
            prev = prev[torch.arange(C) % prev.shape[0]]  # the chain count may have changed
            theta = rescale_outputs(
                spec, prev, (state["y_mean"], state["y_std"]), (data.y_mean.cpu(), data.y_std.cpu())
            )
            inv_mass = state.get("inv_mass") if s.mass != "identity" else None
            if inv_mass is not None and inv_mass.shape[-1] != n_moved:
                inv_mass = None  # adapted with the output layer collapsed or not: unusable
            metric = DiagMetric.of(None if inv_mass is None else inv_mass.to(dev, dt))
            theta = theta[:, :n_moved].contiguous()
            return _Start(theta, float(state["step_size"]), metric, s.warm_burn_in, True)
        theta = spec.init(C, gen, dt, dev)
        theta = adam_map(spec, theta, data, s.noise_std**2, s.prior_var, s.pretrain_steps, s.pretrain_lr)
        theta = theta[:, :n_moved].contiguous()
        return _Start(theta, s.step_size, DiagMetric.of(None), s.n_burn_in, False)

    def _check(self, run: ChainRun) -> None:
        s: HMCSettings = self.settings
        kept, n_div = run.stats["transitions"], run.stats["divergences"]
        if s.max_divergent < 1.0 and n_div > s.max_divergent * kept:
            raise SurrogateError(
                f"hmc diverged: {n_div} of {kept} kept transitions were divergent at step size "
                f"{run.step_size:.3g}; expected at most {s.max_divergent:.0%}. Lower step_size "
                "or path_length, or enable adapt_step_size"
            )


class _Start(NamedTuple):
    theta: Tensor  # C x n_moved initial positions
    step_size: float
    metric: DiagMetric
    burn_in: int  # transitions per chain
    warm: bool


def _cpu(t: Tensor | None) -> Tensor | None:
    return None if t is None else t.cpu()
