"""Vectorised MCMC kernels in the BlackJAX style: ``init(...) -> state`` and
``step(generator, state, ...) -> (state, info)``, with state and diagnostics kept apart.

All C chains move together: positions are ``C x P`` and every operation is batched over
chains; only the step size (one scalar, adapted on the chains' mean acceptance) and the
number of leapfrog steps are shared, so one leapfrog step is one batched gradient call.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor

#: ``theta (C x P) -> (U (C), dU/dtheta (C x P), outputs (C x N x m), *aux)``; ``aux``:
#: optional tensors with a leading chain dimension that travel with the state (e.g. the
#: collapsed potential's factorisation, from which kept states' output layers are drawn)
PotentialFn = Callable[[Tensor], tuple[Tensor, ...]]


class DiagMetric(NamedTuple):
    """A diagonal mass matrix: ``M^-1 = diag(inv_mass)`` (``P``), shared by all chains;
    ``inv_mass`` None is the identity (the study's)."""

    inv_mass: Tensor | None
    sqrt_inv_mass: Tensor | None

    @classmethod
    def of(cls, inv_mass: Tensor | None) -> DiagMetric:
        return cls(inv_mass, None if inv_mass is None else inv_mass.sqrt())

    def kick_(self, p: Tensor, g: Tensor, alpha: float) -> Tensor:
        """In place: ``p += alpha M^-1/2 g`` (``C x P``), one fused op."""
        if self.sqrt_inv_mass is None:
            return p.add_(g, alpha=alpha)
        return p.addcmul_(g, self.sqrt_inv_mass, value=alpha)

    def drift(self, theta: Tensor, p: Tensor, eps: float, in_place: bool) -> Tensor:
        """``theta + eps M^-1/2 p``, into ``theta`` itself if ``in_place``."""
        if in_place:
            return self.kick_(theta, p, eps)
        if self.sqrt_inv_mass is None:
            return theta.add(p, alpha=eps)
        return torch.addcmul(theta, p, self.sqrt_inv_mass, value=eps)


def piecewise_inv_mass(
    potential_fn: PotentialFn,
    position: Tensor,
    sizes: list[int],
    generator: torch.Generator,
    floor: float,
    probes: int = 8,
    h: float = 1e-3,
) -> Tensor:
    """A diagonal inverse mass constant on each piece of the weights (a layer's W or b):
    ``1 / mean Hessian diagonal`` of the piece, Hutchinson-estimated at ``position``
    (``C x P``, averaged over chains) from ``probes`` finite-difference Hessian-vector
    products, the curvature floored at ``floor`` (the prior's), scaled to mean 1 so the
    path length keeps its meaning. Costs ``probes`` gradient calls."""
    g0 = potential_fn(position)[1]
    diag = torch.zeros(position.shape[-1], dtype=torch.float64, device=position.device)
    for _ in range(probes):
        v = torch.randint(0, 2, position.shape, generator=generator, device=position.device)
        v = v.to(position.dtype).mul_(2).sub_(1)
        g = potential_fn(position + h * v)[1]
        diag += ((g - g0) * v).double().mean(0) / (h * probes)
    curv = torch.stack([d.mean() for d in diag.split(sizes)]).clamp(min=floor)
    inv = torch.repeat_interleave(1 / curv, torch.tensor(sizes, device=curv.device))
    return (inv / inv.mean()).to(position.dtype)


#: energy error above which a transition counts as divergent (BlackJAX's default)
DIVERGENCE_THRESHOLD = 1000.0


class HMCState(NamedTuple):
    position: Tensor  # C x P
    potential: Tensor  # C, negative log posterior
    grad: Tensor  # C x P
    outputs: Tensor  # C x N x m, network outputs at the training inputs
    aux: tuple[Tensor, ...] = ()  # the potential's extra results at this position


class HMCInfo(NamedTuple):
    """Per chain, on the host (one transfer per transition)."""

    acceptance: np.ndarray  # C, min(1, exp(-energy error))
    accepted: np.ndarray  # C, bool
    divergent: np.ndarray  # C, bool


def hmc_init(position: Tensor, potential_fn: PotentialFn) -> HMCState:
    U, g, f, *aux = potential_fn(position)
    return HMCState(position, U, g, f, tuple(aux))


def hmc_step(
    generator: torch.Generator,
    state: HMCState,
    potential_fn: PotentialFn,
    step_size: float,
    n_leapfrog: int,
    metric: DiagMetric,
    u: np.ndarray,
) -> tuple[HMCState, HMCInfo]:
    """One HMC transition for every chain: ``n_leapfrog`` leapfrog steps, then
    Metropolis-Hastings with the uniforms ``u`` (``C``, on the host).

    The mass matrix enters as the change of variables ``theta = M^-1/2 phi``: momentum,
    kinetic energy and kicks live in ``phi`` coordinates, where everything is O(1) (with
    ``p ~ N(0, M)`` directly, stiff masses give large momenta whose cancellation in
    ``M^-1 p`` costs float32 chains precision in the energy error)."""
    theta = state.position
    p = torch.randn(theta.shape, generator=generator, dtype=theta.dtype, device=theta.device)
    k0 = _kinetic(p)
    metric.kick_(p, state.grad, -0.5 * step_size)
    for i in range(n_leapfrog):
        # in place after the first step: potential_fn's results do not alias theta
        theta = metric.drift(theta, p, step_size, in_place=i > 0)
        U, g, f, *aux = potential_fn(theta)
        metric.kick_(p, g, -(step_size if i < n_leapfrog - 1 else 0.5 * step_size))
    dH = (U.double() + _kinetic(p)) - (state.potential.double() + k0)
    # the accept/reject arithmetic on C numbers runs on the host: one transfer instead of
    # a dozen tiny tensor ops
    dh = dH.cpu().numpy()
    dh = np.where(np.isfinite(dh), dh, np.inf)
    accepted = np.log(u) < -dh
    info = HMCInfo(np.exp(-np.clip(dh, 0.0, None)), accepted, dh > DIVERGENCE_THRESHOLD)
    if accepted.all():  # one chain is common: skip the merges
        return HMCState(theta, U, g, f, tuple(aux)), info
    if not accepted.any():
        return state, info
    mask = torch.from_numpy(accepted).to(theta.device)

    def merge(new: Tensor, old: Tensor) -> Tensor:
        return torch.where(mask.view(-1, *(1,) * (new.ndim - 1)), new, old)

    new = HMCState(*(merge(a, b) for a, b in zip((theta, U, g, f), state[:4], strict=True)))
    return new._replace(aux=tuple(merge(a, b) for a, b in zip(aux, state.aux, strict=True))), info


def _kinetic(p: Tensor) -> Tensor:
    """``1/2 |p|^2`` per chain, summed in float64 so float32 chains keep a precise energy error."""
    return 0.5 * (p * p).sum(-1, dtype=torch.float64)


def n_leapfrog_for(path_length: float, step_size: float, max_leapfrog: int) -> int:
    """The study's rule: ``min(max_leapfrog, ceil(path_length / step_size))``, at least 1."""
    return max(1, min(max_leapfrog, math.ceil(path_length / step_size)))


class DualAveragingState(NamedTuple):
    log_step: float
    log_step_avg: float
    h_avg: float
    mu: float
    t: int


class DualAveraging:
    """Nesterov dual averaging of the step size (Hoffman & Gelman 2014, NUTS Alg. 5),
    the study's constants: target 0.8, gamma 0.05, t0 10, kappa 0.75, mu = log(10 eps0)."""

    def __init__(self, target: float = 0.8, gamma: float = 0.05, t0: float = 10.0, kappa: float = 0.75):
        self.target, self.gamma, self.t0, self.kappa = target, gamma, t0, kappa

    def init(self, step_size: float) -> DualAveragingState:
        return DualAveragingState(math.log(step_size), 0.0, 0.0, math.log(10 * step_size), 0)

    def update(self, s: DualAveragingState, acceptance: float) -> DualAveragingState:
        t = s.t + 1
        w = 1.0 / (t + self.t0)
        h_avg = (1 - w) * s.h_avg + w * (self.target - acceptance)
        log_step = s.mu - math.sqrt(t) / self.gamma * h_avg
        eta = t**-self.kappa
        log_avg = eta * log_step + (1 - eta) * s.log_step_avg
        return DualAveragingState(log_step, log_avg, h_avg, s.mu, t)

    @staticmethod
    def final(s: DualAveragingState) -> float:
        """The averaged step size to sample with once adaptation ends."""
        return math.exp(s.log_step_avg if s.t > 0 else s.log_step)


class WithinChainVariance:
    """Welford running variance of each chain's positions, pooled over chains at the end.

    Within-chain (not pooled) variance: chains started from different modes would
    otherwise inflate it by the spread between modes, which says nothing about the local
    scale the integrator has to resolve.
    """

    def __init__(self, shape: torch.Size, dtype: torch.dtype, device: torch.device):
        self.count = 0
        self.mean = torch.zeros(shape, dtype=dtype, device=device)
        self.m2 = torch.zeros(shape, dtype=dtype, device=device)

    def update(self, x: Tensor) -> None:
        """Add one draw of every chain: ``C x P``."""
        self.count += 1
        delta = x - self.mean
        self.mean += delta / self.count
        self.m2 += delta * (x - self.mean)

    def inv_mass(self) -> Tensor:
        """Pooled variance ``P``, shrunk toward 1e-3 as Stan does, scaled to mean 1 so the
        study's path lengths keep their meaning (mean distance per unit momentum)."""
        n = self.count
        var = (self.m2 / max(n - 1, 1)).mean(0)
        var = (n / (n + 5.0)) * var + 1e-3 * (5.0 / (n + 5.0))
        return var / var.mean()


class SGHMCState(NamedTuple):
    position: Tensor  # C x D
    momentum: Tensor  # C x D
    tau: Tensor  # C x D, the adaptive averaging window
    g: Tensor  # C x D, running mean of the gradient
    v_hat: Tensor  # C x D, running mean of the squared gradient


def sghmc_init(position: Tensor) -> SGHMCState:
    """pybnn's start: zero momentum, unit window, mean and second moment."""
    ones = torch.ones_like(position)
    return SGHMCState(position, torch.zeros_like(position), ones, ones.clone(), ones.clone())


def sghmc_step(generator: torch.Generator, state: SGHMCState, grad: Tensor, s, adapt: bool) -> SGHMCState:
    """One adaptive-SGHMC step (Springenberg et al. 2016, eqs. 8-10) for all chains.

    ``grad``: minibatch estimate of the full-data negative log posterior's gradient
    (``C x D``); ``s`` provides lr (the squared step), mdecay, epsilon, noise_correction.
    During burn-in (``adapt``) the preconditioner ``1/sqrt(v_hat)`` follows the gradient's
    second moment over an adaptive window ``tau``."""
    tau, g, v_hat = state.tau, state.g, state.v_hat
    if adapt:
        r = 1.0 / (tau + 1.0)
        tau = tau - tau * (g * g / (v_hat + s.epsilon)) + 1.0
        g = g - g * r + r * grad
        v_hat = v_hat - v_hat * r + r * grad * grad
    minv = 1.0 / (v_hat.sqrt() + s.epsilon)
    lr = s.lr  # the squared step: pybnn's update uses the square of the lr it is given
    # the injected noise minus BOHAMIANN's estimate of the minibatch gradient's own noise
    # (lr^2: it takes all of v_hat for noise, so full-batch runs come out too cold)
    noise_var = 2.0 * lr * s.mdecay * minv - (lr * lr if s.noise_correction else 0.0)
    noise_var = noise_var.clamp(min=1e-16)
    z = torch.randn(grad.shape, generator=generator, dtype=grad.dtype, device=grad.device)
    momentum = state.momentum - lr * minv * grad - s.mdecay * state.momentum + noise_var.sqrt() * z
    return SGHMCState(state.position + momentum, momentum, tau, g, v_hat)


class SGHMCStepper:
    """``sghmc_step`` with its state in preallocated buffers, updated in place: the same
    operations in the same order, so the same numbers bit for bit (tested), without the
    ~30 allocations per step. Once adaptation stops, ``lr * minv`` and the noise's std are
    constants and are computed once; a step is then six passes and one normal draw.

    ``position`` (``C x D``) is updated in place: copy what you keep."""

    def __init__(self, position: Tensor, s) -> None:
        st = sghmc_init(position.clone())
        self.position, self.momentum, self.tau, self.g, self.v_hat = st
        self.s = s
        self._a, self._b, self._z = (torch.empty_like(position) for _ in range(3))
        self._lr_minv: Tensor | None = None  # lr * minv and the noise std, fixed after adaptation
        self._noise_std: Tensor | None = None

    def step(self, generator: torch.Generator, grad: Tensor, adapt: bool) -> Tensor:
        s, a, b, z = self.s, self._a, self._b, self._z
        if adapt:
            tau, g, v_hat = self.tau, self.g, self.v_hat
            r = torch.add(tau, 1.0).reciprocal_()  # 1 / (tau + 1); sghmc_step's "* 1.0" is exact
            torch.mul(g, g, out=a).div_(torch.add(v_hat, s.epsilon, out=b)).mul_(tau)
            tau.sub_(a).add_(1.0)
            g.sub_(torch.mul(g, r, out=a)).add_(torch.mul(r, grad, out=a))
            v_hat.sub_(torch.mul(v_hat, r, out=a)).add_(torch.mul(r, grad, out=a).mul_(grad))
            self._lr_minv = self._noise_std = None
        if self._lr_minv is None:
            minv = torch.sqrt(self.v_hat).add_(s.epsilon).reciprocal_()
            noise_var = minv * (2.0 * s.lr * s.mdecay)
            noise_var.sub_(s.lr * s.lr if s.noise_correction else 0.0).clamp_(min=1e-16)
            self._lr_minv, self._noise_std = minv.mul_(s.lr), noise_var.sqrt_()
        torch.randn(grad.shape, generator=generator, dtype=grad.dtype, device=grad.device, out=z)
        m = self.momentum
        torch.mul(m, s.mdecay, out=b)
        m.sub_(torch.mul(self._lr_minv, grad, out=a)).sub_(b).add_(z.mul_(self._noise_std))
        return self.position.add_(m)

    @property
    def state(self) -> SGHMCState:
        return SGHMCState(self.position, self.momentum, self.tau, self.g, self.v_hat)
