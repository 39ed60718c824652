"""The HMC run: burn-in with step-size (and mass-matrix) adaptation, then sampling.

Burn-in schedule (per chain, ``B`` transitions): dual averaging throughout; with
``halve_path_length`` (the study's rule) the path length is halved after any update that
leaves ``path_length / step_size > 200``. With the
"diagonal" metric and ``B >= MIN_MASS_BURN_IN``, a Stan-like window from 15% to 75% of B
accumulates each chain's position variance; at its end the diagonal inverse mass is set and
dual averaging restarts from the current step size. The averaged step size is used for
sampling.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from bnnbo.surrogates.networks.samplers import (
    DiagMetric,
    DualAveraging,
    HMCState,
    PotentialFn,
    WithinChainVariance,
    hmc_init,
    hmc_step,
    n_leapfrog_for,
)

#: shorter burn-ins keep the mass matrix they start with
MIN_MASS_BURN_IN = 40
#: the study halves the path length in burn-in while it spans more step sizes than this
PATH_STEPS_LIMIT = 200


@dataclass
class ChainRun:
    samples: Tensor  # K x C x P', the kept (thinned) post-burn-in states (see run_chains)
    outputs: Tensor  # C x T x (N m), every post-burn-in state's outputs at the training inputs
    state: HMCState  # the chains' final state
    step_size: float
    metric: DiagMetric  # the one used for sampling
    stats: dict[str, Any]


class _Adaptation:
    """Step size and diagonal inverse mass during burn-in (see the module docstring)."""

    def __init__(
        self,
        s: Any,
        burn: int,
        step_size: float,
        metric: DiagMetric,
        adapt_step: bool,
        position: Tensor,
    ):
        self.da = DualAveraging(s.target_accept)
        self.da_state = self.da.init(step_size)
        self.step_size, self.metric, self.burn, self.adapt_step = (
            step_size,
            metric,
            burn,
            adapt_step,
        )
        self.path_length = s.path_length
        self.halve = bool(getattr(s, "halve_path_length", False)) and adapt_step
        self.window = None
        if s.metric == "diagonal" and burn >= MIN_MASS_BURN_IN:
            self.window = (int(0.15 * burn), int(0.75 * burn))
            self.var = WithinChainVariance(position.shape, position.dtype, position.device)

    def update(self, it: int, acceptance: float, position: Tensor) -> None:
        if self.adapt_step:
            self.da_state = self.da.update(self.da_state, acceptance)
            self.step_size = math.exp(self.da_state.log_step)
            if self.halve and self.path_length / self.step_size > PATH_STEPS_LIMIT:
                self.path_length /= 2
        if self.window and self.window[0] <= it < self.window[1]:
            self.var.update(position)
            if it == self.window[1] - 1:
                self.metric = DiagMetric.of(self.var.inv_mass())
                self.da_state = self.da.init(self.step_size)
        if it == self.burn - 1 and self.adapt_step:
            self.step_size = self.da.final(self.da_state)


def run_chains(
    potential: PotentialFn,
    theta0: Tensor,
    generator: torch.Generator,
    s: Any,
    burn: int,
    keep: int,
    step_size: float,
    metric: DiagMetric,
    thin: int = 1,
    adapt_step_size: bool = True,
    complete: Callable[[HMCState], Tensor] | None = None,
) -> ChainRun:
    """Run ``burn`` + ``keep`` transitions of all ``C`` chains (``theta0``: ``C x P``).

    ``s`` provides path_length, max_leapfrog, step_jitter, target_accept and metric
    (HMCSettings); every ``thin``-th post-burn-in state is kept, as ``complete(state)``
    (``C x P'``, e.g. the position joined with an output layer drawn from the state's
    ``aux``) or as the position; the step size is adapted during burn-in if
    ``adapt_step_size``.

    Each transition's step size is drawn uniformly within ``+-step_jitter`` of the adapted
    one: with a fixed step size and leapfrog count, directions whose period divides the
    trajectory never move (a Bayesian linear model's variances came out off: docs/performance.md,
    "Step-size jitter")."""
    state = hmc_init(theta0, potential)
    adapt = _Adaptation(s, burn, step_size, metric, adapt_step_size, theta0)
    C = theta0.shape[0]
    n_kept = math.ceil(keep / thin)
    # every transition's uniforms at once (column 0: the step jitter; 1..C: Metropolis)
    u = torch.rand(burn + keep, C + 1, generator=generator, dtype=torch.float64, device=theta0.device).cpu()
    jitter = (1.0 + s.step_jitter * (2 * u[:, 0] - 1)).tolist()
    u = u[:, 1:].numpy()
    samples: Tensor | None = None
    outputs = theta0.new_empty(C, keep, state.outputs[0].numel())
    acc, div, n_grad = [0.0, 0.0], [0, 0], 0  # burn-in, sampling
    for it in range(burn + keep):
        L = n_leapfrog_for(adapt.path_length, adapt.step_size, s.max_leapfrog)
        eps = adapt.step_size * jitter[it]
        state, info = hmc_step(generator, state, potential, eps, L, adapt.metric, u[it])
        n_grad += L
        phase = int(it >= burn)
        acc[phase] += float(info.acceptance.sum())
        div[phase] += int(info.divergent.sum())
        if it < burn:
            adapt.update(it, float(info.acceptance.mean()), state.position)
            continue
        k = it - burn
        outputs[:, k] = state.outputs.reshape(C, -1)
        if k % thin == 0:
            kept = state.position if complete is None else complete(state)
            if samples is None:
                samples = kept.new_empty(n_kept, *kept.shape)
            samples[k // thin] = kept
    stats = {
        "acceptance": acc[1] / (C * keep),
        "acceptance_burn_in": acc[0] / (C * burn) if burn else None,
        "step_size": adapt.step_size,
        "n_leapfrog": n_leapfrog_for(adapt.path_length, adapt.step_size, s.max_leapfrog),
        "path_length": adapt.path_length,
        "gradient_evaluations": n_grad,
        "divergences": div[1],
        "divergences_burn_in": div[0],
        "transitions": C * keep,
        "burn_in_per_chain": burn,
        "mass_adapted": adapt.window is not None,
        "n_stored": n_kept * C,
    }
    return ChainRun(samples, outputs, state, adapt.step_size, adapt.metric, stats)
