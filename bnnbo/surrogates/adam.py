"""Adam through the kernel ``torch.optim.Adam(fused=True)`` runs, so the same numbers, without a
``torch.optim`` optimizer: its per-step bookkeeping costs more than the update of a few small
tensors (docs/performance.md, "DKL training"), and building one imports ``torch._dynamo`` and
sympy, most of a fresh process's first HMC fit's extra cost (docs/performance.md, "The first
fit in a fresh process"). Where torch has no fused kernel for the tensors, ``torch.optim.Adam``
itself."""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import Tensor


class FusedAdam:
    """Adam over ``params`` (one tensor or several). ``step(grads)`` takes the gradients, one per
    tensor (or one tensor); ``step()`` reads each tensor's ``.grad`` and, as ``torch.optim`` does,
    leaves tensors without one untouched."""

    def __init__(
        self, params: Tensor | Iterable[Tensor], lr: float, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8
    ):
        tensors = [params] if isinstance(params, Tensor) else list(params)
        self.params = [p for p in tensors if p.requires_grad or isinstance(params, Tensor)]
        self.lr, self.betas, self.eps = lr, betas, eps
        self.fused = hasattr(torch, "_fused_adam_") and all(
            p.device.type in ("cpu", "cuda") and p.is_floating_point() for p in self.params
        )
        if not self.fused:
            self._opt = torch.optim.Adam(self.params, lr=lr, betas=betas, eps=eps)
            return
        self.exp_avg = [torch.zeros_like(p, memory_format=torch.preserve_format) for p in self.params]
        self.exp_avg_sq = [torch.zeros_like(p, memory_format=torch.preserve_format) for p in self.params]
        # one float32 step count per tensor, as torch.optim keeps them for its fused kernel
        self.steps = [torch.zeros((), dtype=torch.float32, device=p.device) for p in self.params]

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self, grads: Tensor | list[Tensor] | None = None) -> None:
        if grads is not None:
            given = [grads] if isinstance(grads, Tensor) else list(grads)
            for p, g in zip(self.params, given, strict=True):
                p.grad = g
        if not self.fused:
            self._opt.step()
            return
        live = [i for i, p in enumerate(self.params) if p.grad is not None]
        pick = (lambda xs: xs) if len(live) == len(self.params) else (lambda xs: [xs[i] for i in live])
        steps = pick(self.steps)
        torch._foreach_add_(steps, 1)
        torch._fused_adam_(
            pick(self.params),
            [p.grad for p in pick(self.params)],
            pick(self.exp_avg),
            pick(self.exp_avg_sq),
            [],
            steps,
            amsgrad=False,
            lr=self.lr,
            beta1=self.betas[0],
            beta2=self.betas[1],
            weight_decay=0.0,
            eps=self.eps,
            maximize=False,
            grad_scale=None,
            found_inf=None,
        )
        if grads is not None:
            self.zero_grad()
