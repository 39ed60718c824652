"""A batched functional MLP: the weights of S networks live in one ``S x P`` tensor.

Every layer's weight is a *view* of that tensor, ``S x fan_in x fan_out``, so one
``baddbmm`` per layer evaluates all S networks at once. HMC chains, SGHMC chains, ensemble
members and stored posterior samples are all such stacks.

Flat layout, layer by layer: ``W_l`` (``fan_in x fan_out``, row-major) then ``b_l``.

Two evaluation paths:

* ``forward``: differentiable (autograd), used by posteriors (gradients flow to X);
* ``potential_and_grad``: the Gaussian negative log posterior and its gradient by a
  hand-written backward pass into one preallocated ``S x P`` buffer. The samplers call it
  thousands of times per fit; skipping autograd's graph and per-slice zero-fills makes it
  faster at these sizes (docs/performance.md, "Measured along the way").

``torch.tanh`` is much slower on CPUs than ``sigmoid`` (docs/performance.md), so tanh is computed as
``2 sigmoid(2x) - 1`` (absolute error ~1 ulp, irrelevant for a network's activations).
Posteriors go further: ``to_sigmoid_form`` folds the affine maps of ``tanh = 2 sigmoid(2x) - 1``
into the weights, so each hidden layer is one matmul and one in-place sigmoid, halving the
passes over the large ``S x N x width`` activations that make draws at many points
memory-bound.
"""

from __future__ import annotations

import functools
import itertools
import math
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

from bnnbo.errors import ConfigError, DataError

Activation = Literal["tanh", "relu"]
ACTIVATIONS = ("tanh", "relu")


class _Tanh(torch.autograd.Function):
    """tanh through sigmoid, with the usual ``1 - y^2`` backward."""

    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:
        y = tanh_(x.mul(2))
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:
        (y,) = ctx.saved_tensors
        return grad * (1 - y * y)


def tanh_(h2: Tensor) -> Tensor:
    """In place: ``2x`` -> ``tanh(x)``."""
    return torch.sigmoid_(h2).mul_(2).sub_(1)


@dataclass(frozen=True)
class MLPSpec:
    """Architecture ``d_in -> widths... -> d_out``; ``widths=()`` is a linear model."""

    d_in: int
    widths: tuple[int, ...]
    d_out: int
    activation: Activation = "tanh"

    def __post_init__(self) -> None:
        if self.activation not in ACTIVATIONS:
            raise ConfigError(f"activation {self.activation!r}; expected one of {ACTIVATIONS}")
        if min((self.d_in, self.d_out, *self.widths)) < 1:
            raise ConfigError(
                f"layer sizes must be >= 1, got d_in={self.d_in}, widths={self.widths}, d_out={self.d_out}"
            )

    @property
    def layers(self) -> list[tuple[int, int]]:
        """``(fan_in, fan_out)`` of each affine layer."""
        sizes = [self.d_in, *self.widths, self.d_out]
        return list(itertools.pairwise(sizes))

    @functools.cached_property
    def num_params(self) -> int:
        return sum(fi * fo + fo for fi, fo in self.layers)

    @property
    def piece_sizes(self) -> list[int]:
        """Sizes of the flat vector's pieces in order: ``W_1, b_1, W_2, b_2, ...``."""
        return list(self._pieces[0])

    @functools.cached_property
    def _pieces(self) -> tuple[list[int], list[tuple[int, int]]]:
        """Flat-vector piece sizes (W_1, b_1, W_2, ...) and the shapes of the weights."""
        layers = self.layers
        return [n for fi, fo in layers for n in (fi * fo, fo)], layers

    def unflatten(self, theta: Tensor) -> list[tuple[Tensor, Tensor]]:
        """``S x P`` -> per layer ``(W: S x fan_in x fan_out, b: S x 1 x fan_out)``, views."""
        if theta.ndim != 2 or theta.shape[-1] != self.num_params:
            raise DataError(f"weights must be S x {self.num_params}, got {tuple(theta.shape)}")
        sizes, shapes = self._pieces  # one split: called twice per gradient, in the hot loop
        parts, S = theta.split(sizes, dim=1), theta.shape[0]
        return [(parts[2 * i].view(S, fi, fo), parts[2 * i + 1].unsqueeze(1)) for i, (fi, fo) in enumerate(shapes)]

    def forward(self, theta: Tensor, X: Tensor, sigmoid_form: bool = False) -> Tensor:
        """Differentiable outputs of the S networks: ``S x P`` weights and ``N x d_in``
        (shared) or ``S x N x d_in`` (per-network) inputs -> ``S x N x d_out``.

        ``sigmoid_form``: ``theta`` comes from ``to_sigmoid_form`` (tanh networks only)."""
        layers = self.unflatten(theta)
        h = X.to(theta.dtype)
        for i, (W, b) in enumerate(layers):
            h = _affine(h, W, b)
            if i == len(layers) - 1:
                break
            if self.activation == "relu":
                h = torch.relu_(h)
            else:  # in place is safe: matmul and baddbmm do not keep their outputs for backward
                h = torch.sigmoid_(h) if sigmoid_form else _Tanh.apply(h)
        return h

    def to_sigmoid_form(self, theta: Tensor, inverse: bool = False) -> Tensor:
        """Weights for ``forward(..., sigmoid_form=True)``: with ``s_l = sigmoid(2 z_l)`` and
        ``tanh(z_l) = 2 s_l - 1``, layer l's inputs become ``s_{l-1}``, so ``W -> 2W`` (first
        layer), ``4W`` (hidden), ``2W`` (output) and the biases absorb ``-colsum(W)``.
        ``inverse`` maps back. ReLU networks and linear models are returned unchanged."""
        if self.activation != "tanh" or not self.widths:
            return theta
        out = theta.clone()
        layers, n = self.unflatten(out), len(self.layers)
        for i, (W, b) in enumerate(layers):
            w_scale = 2.0 if i in (0, n - 1) else 4.0
            b_scale = 1.0 if i == n - 1 else 2.0
            colsum = W.sum(1, keepdim=True)
            if inverse:
                W.div_(w_scale)
                b.div_(b_scale).add_(0 if i == 0 else W.sum(1, keepdim=True))
            else:
                b.sub_(0 if i == 0 else colsum).mul_(b_scale)
                W.mul_(w_scale)
        return out

    def init(
        self,
        S: int,
        generator: torch.Generator,
        dtype: torch.dtype = torch.float64,
        device: torch.device | str = "cpu",
    ) -> Tensor:
        """``S x P`` weights drawn like ``torch.nn.Linear``'s default: U(+-1/sqrt(fan_in))."""
        u = torch.rand(S, self.num_params, generator=generator, dtype=dtype, device=device)
        scale = torch.cat(
            [torch.full((fi * fo + fo,), 1 / math.sqrt(fi), dtype=dtype, device=device) for fi, fo in self.layers]
        )
        return (2 * u - 1) * scale

    def flops(self, N: int) -> int:
        """Floating-point operations of one network's forward pass on N points."""
        return sum(2 * N * fi * fo + N * fo for fi, fo in self.layers)

    def potential_and_grad(
        self,
        theta: Tensor,
        X: Tensor,
        Y: Tensor,
        noise_var: Tensor | float,
        prior_var: float,
        weights: Tensor | float | None = None,
        value: bool = True,
    ) -> tuple[Tensor | None, Tensor, Tensor]:
        """Negative log posterior of each network and its gradient, without autograd.

        ``U_s = 1/2 sum_i w_si |f_s(x_i) - y_i|^2 / noise_var + 1/2 |theta_s|^2 / prior_var``.

        Args:
            theta: ``S x P``. X: ``N x d_in`` or ``S x N x d_in``. Y: ``N x m`` or ``S x N x m``.
            noise_var: scalar or broadcastable to ``S x N x m`` (e.g. ``S x 1 x m``).
            weights: per-point likelihood weights broadcastable to ``S x N`` (subsets,
                minibatch scaling), or None.
            value: compute ``U`` (optimisers need only the gradient).

        Returns:
            ``U`` (``S``, or None), ``dU/dtheta`` (``S x P``), outputs ``f`` (``S x N x m``).
        """
        layers, hs = self.activations(theta, X, activate_output=False)
        f = hs.pop()
        delta = (f - Y) / noise_var  # dU/df before weighting, S x N x m
        if weights is not None:
            delta = delta * (weights.unsqueeze(-1) if isinstance(weights, Tensor) else weights)
        U = None
        if value:
            U = 0.5 * (delta * (f - Y)).sum((1, 2)) + (0.5 / prior_var) * torch.linalg.vecdot(theta, theta)
        return U, self.backward(theta, prior_var, layers, hs, delta), f

    @functools.cached_property
    def body(self) -> MLPSpec:
        """The hidden layers as a network of their own, ``d_in -> widths[-1]`` (evaluate
        it with ``activate_output=True``); its weights are the leading part of this
        network's flat vector."""
        if not self.widths:
            raise ConfigError("a network without hidden layers has no body")
        return MLPSpec(self.d_in, self.widths[:-1], self.widths[-1], self.activation)

    def activations(
        self, theta: Tensor, X: Tensor, activate_output: bool
    ) -> tuple[list[tuple[Tensor, Tensor]], list[Tensor]]:
        """Unflattened layers and every layer's (activated) output, ``X`` first: the
        forward pass of ``potential_and_grad``, without autograd (in-place activations)."""
        layers = self.unflatten(theta)
        hs = [X.to(theta.dtype)]
        for i, (W, b) in enumerate(layers):
            if not (activate_output or i < len(layers) - 1):
                hs.append(_affine(hs[-1], W, b))
            elif self.activation == "relu":
                hs.append(torch.relu_(_affine(hs[-1], W, b)))
            else:  # tanh(z) = 2 sigmoid(2z) - 1, the 2z from the matmul's own scaling
                hs.append(tanh_(_affine(hs[-1], W, b, scale=2.0)))
        return layers, hs

    def activation_backward_(self, delta: Tensor, h: Tensor) -> Tensor:
        """In place: ``delta`` times the activation's derivative, from its output ``h``."""
        if self.activation == "tanh":  # delta (1 - h^2), one temporary
            return delta.addcmul_(delta * h, h, value=-1)
        return delta.mul_(h > 0)

    def backward(self, theta: Tensor, prior_var: float, layers, hs: list[Tensor], delta: Tensor) -> Tensor:
        """``dU/dtheta`` (``S x P``): the Gaussian prior's ``theta / prior_var`` plus every
        layer's ``h^T delta``, top down.

        ``delta``: the potential's derivative with respect to the last layer's
        pre-activation outputs; ``hs``: each layer's input (``activations`` minus its last).
        The pieces are joined by one ``cat`` (fewer passes than adding each into a
        preallocated gradient's strided views)."""
        pieces = []
        for i in range(len(layers) - 1, -1, -1):
            h = hs[i]
            gW = torch.matmul(h.T, delta) if h.ndim == 2 else torch.bmm(h.transpose(1, 2), delta)
            pieces += [delta.sum(1), gW.flatten(1)]
            if i > 0:
                delta = self.activation_backward_(torch.bmm(delta, layers[i][0].transpose(1, 2)), h)
        pieces.reverse()  # the flat layout: W_1, b_1, W_2, ...
        return torch.cat(pieces, 1).add_(theta, alpha=1 / prior_var)


def _affine(h: Tensor, W: Tensor, b: Tensor, scale: float = 1.0) -> Tensor:
    """``scale (h W + b)`` for all S networks, one fused call; shared 2-D inputs are
    broadcast over the networks, not copied."""
    if h.ndim == 2:
        h = h.expand(W.shape[0], *h.shape)
    return torch.baddbmm(b, h, W, beta=scale, alpha=scale)


def log_prior(theta: Tensor, prior_var: float) -> Tensor:
    """Unnormalised log N(0, prior_var I) of each row: ``S x P`` -> ``S``."""
    return -0.5 * (theta * theta).sum(-1) / prior_var


def dtype_of(name: str) -> torch.dtype:
    """``"float32"`` / ``"float64"`` -> the torch dtype."""
    if name not in ("float32", "float64"):
        raise ConfigError(f"dtype {name!r}; expected 'float32' or 'float64'")
    return getattr(torch, name)
