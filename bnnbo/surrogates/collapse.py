"""The output layer integrated out: HMC on the hidden weights only.

With a Gaussian likelihood of fixed noise and a Gaussian prior, the output layer (weights
and bias) given the last hidden layer's features ``Phi`` (``N x H``) is Bayesian linear
regression: ``p(w | phi, y)`` is Gaussian in closed form, and so is the marginal
likelihood ``p(y | phi)``. The sampler therefore moves on ``p(phi | y)`` (prior times
marginal likelihood) and draws each kept network's output layer from ``p(w | phi, y)``:
the same joint posterior as HMC on all weights.

Why: the stiff directions of the full posterior lie largely in the output layer
(the Gauss-Newton matrix of a pre-trained Hartmann network has eigenvalues up to 2.5e6, in
dense directions no diagonal mass matrix reaches). Integrated out, dual averaging adapts
the step to ~7e-3 instead of ~7e-4, so the study's path of 0.01 takes 2 leapfrog steps
instead of 15, and one chain's held-out NLL improves from ~2 to ~0.3
(docs/performance.md). The linear algebra is float64 whatever the network's dtype: with
noise std 0.1 the systems have condition numbers near 1e6.

Per output column ``y_j`` (all share the features and ``K``),
``-log p(y | phi) = sum_j 1/2 y_j^T K^-1 y_j + m/2 log|K| + const``,
``K = noise_var I + prior_var Phi~ Phi~^T`` with ``Phi~ = [Phi, 1]``; computed in the
N-dimensional form above when ``N <= H + 1`` and in the weight-space form
(``A = Phi~^T Phi~ / noise_var + I / prior_var``) otherwise, whichever is smaller.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from bnnbo.surrogates.mlp import MLPSpec


def hidden_size(spec: MLPSpec) -> int:
    """Number of leading weights that are not the output layer."""
    H = spec.widths[-1] if spec.widths else spec.d_in
    return spec.num_params - (H + 1) * spec.d_out


def _features(spec: MLPSpec, phi: Tensor, X: Tensor):
    """``(layers, layer inputs, Phi)`` of the hidden part; ``Phi`` is ``S x N x H``."""
    X = X.to(phi.dtype)
    if not spec.widths:
        return [], [], X.expand(phi.shape[0], *X.shape) if X.ndim == 2 else X
    layers, hs = spec.body.activations(phi, X, activate_output=True)
    return layers, hs, hs.pop()


def potential_and_grad(
    spec: MLPSpec, phi: Tensor, X: Tensor, Y: Tensor, noise_var: float, prior_var: float
) -> tuple[Tensor, Tensor, Tensor]:
    """``-log p(phi | y)`` up to a constant, its gradient, and the posterior mean of the
    outputs at X given phi, for ``S`` stacked hidden parts ``phi`` (``S x hidden_size``).

    Returns ``U`` (``S``, float64), ``dU/dphi`` (``S x hidden_size``), ``f`` (``S x N x m``)."""
    layers, hs, Phi = _features(spec, phi, X)
    N, H = Phi.shape[-2:]
    marginal = _marginal_n if N <= H + 1 else _marginal_w
    U, dPhi, f = marginal(Phi, Y, noise_var, prior_var)
    U = U + (0.5 / prior_var) * torch.linalg.vecdot(phi, phi).double()
    if layers:
        delta = spec.activation_backward_(dPhi, Phi)
        grad = spec.body.backward(phi, prior_var, layers, hs, delta)
    else:
        grad = phi / prior_var
    return U, grad, f.to(phi.dtype)


def _marginal_n(Phi: Tensor, Y: Tensor, noise_var: float, prior_var: float):
    """N-space: ``K`` is ``N x N``. ``dU/dPhi = prior_var (m K^-1 - alpha alpha^T) Phi``."""
    P = Phi.double()
    S, N, _ = P.shape
    m = Y.shape[-1]
    ones = torch.full((1, N, N), prior_var, dtype=torch.float64, device=P.device)
    K = torch.baddbmm(ones, P, P.transpose(1, 2), alpha=prior_var)  # the bias adds a 1
    K.diagonal(dim1=1, dim2=2).add_(noise_var)
    L, _ = torch.linalg.cholesky_ex(K)  # a failure gives NaN, so the move is rejected
    Yd = Y.double().expand(S, N, m)
    alpha = torch.cholesky_solve(Yd, L)
    U = 0.5 * (Yd * alpha).sum((1, 2)) + m * L.diagonal(dim1=1, dim2=2).log().sum(-1)
    # the gradient needs only the network's precision: invert from the float64 factor in
    # its dtype (errors ~ sqrt(cond K) eps, ~1e-4 here; 58 vs 100 us at N = 100)
    a = alpha.to(Phi.dtype)
    G = torch.baddbmm(
        torch.cholesky_inverse(L.to(Phi.dtype)),
        a,
        a.transpose(1, 2),
        beta=m * prior_var,
        alpha=-prior_var,
    )
    return U, torch.bmm(G, Phi), Yd - noise_var * alpha


def _marginal_w(Phi: Tensor, Y: Tensor, noise_var: float, prior_var: float):
    """Weight space: ``A`` is ``(H+1) x (H+1)``, ``M = A^-1 Phi~^T Y / noise_var`` the
    output layer's posterior mean; ``dU/dPhi~ = ((Phi~ M - Y) M^T + m Phi~ A^-1) / noise_var``."""
    S, N, H = Phi.shape
    m = Y.shape[-1]
    P, L, B, M = _conditional(Phi, Y, noise_var, prior_var)
    Yd = Y.double().expand(S, N, m)
    const = 0.5 * m * (N * math.log(noise_var) + (H + 1) * math.log(prior_var))
    U = (
        0.5 * (Yd * Yd).sum((1, 2)) / noise_var
        - 0.5 * (B * M).sum((1, 2))
        + m * L.diagonal(dim1=1, dim2=2).log().sum(-1)
        + const
    )
    F = torch.bmm(P, M)
    dt = Phi.dtype  # the gradient in the network's dtype, as in _marginal_n
    dP = torch.baddbmm(
        torch.bmm(P.to(dt), torch.cholesky_inverse(L.to(dt))),
        (F - Yd).to(dt),
        M.transpose(1, 2).to(dt),
        beta=m,
    ).div_(noise_var)
    return U, dP[..., :H], F


def _conditional(Phi: Tensor, Y: Tensor, noise_var: float, prior_var: float):
    """``Phi~`` (float64), the Cholesky factor of ``A``, ``B = Phi~^T Y / noise_var`` and
    the output layer's posterior mean ``M = A^-1 B`` (``S x (H+1) x m``)."""
    S, N, _ = Phi.shape
    P = torch.cat([Phi.double(), Phi.new_ones(S, N, 1, dtype=torch.float64)], -1)
    Pt = P.transpose(1, 2)
    A = torch.bmm(Pt, P).div_(noise_var)
    A.diagonal(dim1=1, dim2=2).add_(1 / prior_var)
    L, _ = torch.linalg.cholesky_ex(A)
    B = torch.bmm(Pt, Y.double().expand(S, N, Y.shape[-1])).div_(noise_var)
    return P, L, B, torch.cholesky_solve(B, L)


def with_output_layer(
    spec: MLPSpec,
    phi: Tensor,
    X: Tensor,
    Y: Tensor,
    noise_var: float,
    prior_var: float,
    generator: torch.Generator,
    chunk: int = 128,
) -> Tensor:
    """Whole networks: each hidden part (``S x hidden_size``) joined with an output layer
    drawn from ``p(w | phi, y)``; ``S x num_params`` in phi's dtype. ``chunk`` networks at
    a time bound the ``chunk x (H+1)^2`` float64 memory."""
    out = []
    for part in phi.split(chunk):
        _, _, Phi = _features(spec, part, X)
        _, L, _, M = _conditional(Phi, Y, noise_var, prior_var)
        z = torch.randn(M.shape, generator=generator, dtype=M.dtype, device=M.device)
        W = M + torch.linalg.solve_triangular(L.transpose(1, 2), z, upper=True)
        # flat layout of the output layer: W (H x m, row-major), then b (m)
        out.append(torch.cat([part, W[:, :-1].flatten(1).to(part), W[:, -1].to(part)], -1))
    return torch.cat(out) if out else phi.new_empty(0, spec.num_params)
