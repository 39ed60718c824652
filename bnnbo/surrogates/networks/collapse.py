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

from bnnbo.surrogates.networks.mlp import MLPSpec


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
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]:
    """``-log p(phi | y)`` up to a constant, its gradient, the posterior mean of the
    outputs at X given phi, and the factorisation of ``p(w | phi, y)``, for ``S`` stacked
    hidden parts ``phi`` (``S x hidden_size``).

    Returns ``U`` (``S``, float64), ``dU/dphi`` (``S x hidden_size``), ``f`` (``S x N x m``)
    and the three tensors of ``conditional`` (for ``draw_output_layer``)."""
    layers, hs, Phi = _features(spec, phi, X)
    factor = conditional(Phi, Y, noise_var, prior_var)
    marginal = _marginal_n if _n_space(factor) else _marginal_w
    U, dPhi, f = marginal(Phi, Y, noise_var, prior_var, factor)
    U = U + (0.5 / prior_var) * torch.linalg.vecdot(phi, phi).double()
    if layers:
        delta = spec.activation_backward_(dPhi, Phi)
        grad = spec.body.backward(phi, prior_var, layers, hs, delta)
    else:
        grad = phi / prior_var
    return U, grad, f.to(phi.dtype), *factor


def conditional(Phi: Tensor, Y: Tensor, noise_var: float, prior_var: float):
    """The Gaussian ``p(w | phi, y)`` of the output layer given the features ``Phi``
    (``S x N x H``), in float64, in whichever form is smaller:

    * N-space (``N <= H + 1``): ``(Phi, L, alpha)``, ``L L^T = K``, ``alpha = K^-1 Y``;
    * weight space: ``(Phi~, L, M)``, ``L L^T = A``, ``M = A^-1 Phi~^T Y / noise_var``.

    Tensors only (each with the networks as leading dimension), so they can travel with a
    sampler's state; the form shows in the shapes (``_n_space``)."""
    P = Phi.double()
    S, N, H = P.shape
    Yd = Y.double().expand(S, N, Y.shape[-1])
    if N <= H + 1:
        ones = torch.full((1, N, N), prior_var, dtype=torch.float64, device=P.device)
        K = torch.baddbmm(ones, P, P.transpose(1, 2), alpha=prior_var)  # the bias adds a 1
        K.diagonal(dim1=1, dim2=2).add_(noise_var)
        L, _ = torch.linalg.cholesky_ex(K)  # a failure gives NaN, so the move is rejected
        return P, L, torch.cholesky_solve(Yd, L)
    P = torch.cat([P, P.new_ones(S, N, 1)], -1)
    Pt = P.transpose(1, 2)
    A = torch.bmm(Pt, P).div_(noise_var)
    A.diagonal(dim1=1, dim2=2).add_(1 / prior_var)
    L, _ = torch.linalg.cholesky_ex(A)
    M = torch.cholesky_solve(torch.bmm(Pt, Yd).div_(noise_var), L)
    return P, L, M


def _n_space(factor: tuple[Tensor, ...]) -> bool:
    """N-space factors are ``N x N``; weight-space ones ``(H+1) x (H+1)`` with ``N > H + 1``."""
    P, L, _ = factor
    return L.shape[-1] == P.shape[-2]


def _marginal_n(Phi: Tensor, Y: Tensor, noise_var: float, prior_var: float, factor):
    """N-space: ``K`` is ``N x N``. ``dU/dPhi = prior_var (m K^-1 - alpha alpha^T) Phi``."""
    _, L, alpha = factor
    m = Y.shape[-1]
    Yd = Y.double().expand_as(alpha)
    U = 0.5 * (Yd * alpha).sum((1, 2)) + m * L.diagonal(dim1=1, dim2=2).log().sum(-1)
    # the gradient needs only the network's precision: invert from the float64 factor in
    # its dtype (errors ~ sqrt(cond K) eps; faster: docs/performance.md)
    a = alpha.to(Phi.dtype)
    G = torch.baddbmm(
        torch.cholesky_inverse(L.to(Phi.dtype)),
        a,
        a.transpose(1, 2),
        beta=m * prior_var,
        alpha=-prior_var,
    )
    return U, torch.bmm(G, Phi), Yd - noise_var * alpha


def _marginal_w(Phi: Tensor, Y: Tensor, noise_var: float, prior_var: float, factor):
    """Weight space: ``A`` is ``(H+1) x (H+1)``, ``M = A^-1 Phi~^T Y / noise_var`` the
    output layer's posterior mean; ``dU/dPhi~ = ((Phi~ M - Y) M^T + m Phi~ A^-1) / noise_var``."""
    P, L, M = factor
    S, N, H = Phi.shape
    m = Y.shape[-1]
    Yd = Y.double().expand(S, N, m)
    const = 0.5 * m * (N * math.log(noise_var) + (H + 1) * math.log(prior_var))
    F = torch.bmm(P, M)
    # y^T (y - Phi~ M) / noise_var = (y^T y - B^T M) / noise_var with B = Phi~^T y
    U = 0.5 * (Yd * (Yd - F)).sum((1, 2)) / noise_var + m * L.diagonal(dim1=1, dim2=2).log().sum(-1) + const
    dt = Phi.dtype  # the gradient in the network's dtype, as in _marginal_n
    dP = torch.baddbmm(
        torch.bmm(P.to(dt), torch.cholesky_inverse(L.to(dt))),
        (F - Yd).to(dt),
        M.transpose(1, 2).to(dt),
        beta=m,
    ).div_(noise_var)
    return U, dP[..., :H], F


def draw_output_layer(
    factor: tuple[Tensor, ...], noise_var: float, prior_var: float, generator: torch.Generator
) -> Tensor:
    """One draw from ``p(w | phi, y)`` per network (``S x (H+1) x m``, float64: ``W`` then
    the bias), given ``conditional``'s factorisation.

    Weight space: ``M + L^-T z``. N-space, by Matheron's rule: with a prior draw ``w0`` and a
    noise draw ``e``, ``w0 + prior_var Phi~^T K^-1 (y - Phi~ w0 - e)`` is an exact draw; it
    needs only ``K``'s factor, which the sampler already has (a few ops per network)."""
    P, L, third = factor
    if not _n_space(factor):
        z = torch.randn(third.shape, generator=generator, dtype=third.dtype, device=third.device)
        return third + torch.linalg.solve_triangular(L.transpose(1, 2), z, upper=True)
    S, N, H = P.shape
    m = third.shape[-1]
    z = torch.randn(S, H + 1 + N, m, generator=generator, dtype=P.dtype, device=P.device)
    w0 = z[:, : H + 1].mul_(math.sqrt(prior_var))
    r = torch.baddbmm(z[:, H + 1 :].mul_(math.sqrt(noise_var)).add_(w0[:, H:]), P, w0[:, :H])
    v = third - torch.cholesky_solve(r, L)  # K^-1 (y - Phi~ w0 - e)
    return w0.add_(torch.cat([P.transpose(1, 2) @ v, v.sum(1, keepdim=True)], 1), alpha=prior_var)


def join(phi: Tensor, w: Tensor) -> Tensor:
    """Whole networks (``S x num_params``, phi's dtype): hidden parts and output layers
    ``w`` (``S x (H+1) x m``; the flat layout stores W row-major, then b)."""
    return torch.cat([phi, w[:, :-1].flatten(1).to(phi), w[:, -1].to(phi)], -1)
