"""Where an ask of the default q = 1 loop spends its time: the GP fit and the acquisition calls.

On Hartmann6 with n Sobol points (default 30), in one process, alternating the variants:

* GP fit: BoTorch's GP (``kernel="botorch"``, fit_gpytorch_mll) and the default Matern GP
  (plain-algebra MAP), each cold and warm-started from the fit on n - 1 points (5 and 20
  L-BFGS-B iterations); seconds and the log marginal likelihood / n reached (+ priors);
* one LogEI call + gradient on 8 points: BoTorch's LogExpectedImprovement vs bnnbo's
  ExactGPLogEI (generic kernel path, fused kernel with autograd, fused value and gradient by
  hand), on the default GP.

    python benchmarks/default_loop_costs.py [--n 30] [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

import torch
from botorch.acquisition import LogExpectedImprovement
from gpytorch.mlls import ExactMarginalLogLikelihood

from bnnbo import get_problem, get_surrogate
from bnnbo.exact_logei import ExactGPLogEI


def mll(model) -> float:
    model.train()
    with torch.no_grad():
        out = ExactMarginalLogLikelihood(model.likelihood, model)(model(*model.train_inputs), model.train_targets)
    model.eval()
    return float(out)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=30)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    p = get_problem("hartmann6")
    X = p.space.sobol(args.n, seed=1)
    U, Y = p.space.to_unit(X), p.evaluate(X)
    fits = {}
    for kernel in ("botorch", "matern"):
        prev = get_surrogate("gp", kernel=kernel)
        prev.fit(U[:-1], Y[:-1], seed=0)
        fits[f"{kernel}, cold"] = ({"kernel": kernel, "warm_start": False}, None)
        for it in (5, 20):
            fits[f"{kernel}, warm, {it} iterations"] = ({"kernel": kernel, "warm_maxiter": it}, prev.state_)
    secs: dict = {k: [] for k in fits}
    value = {}
    for _ in range(args.repeats):
        for label, (settings, state) in fits.items():
            s = get_surrogate("gp", **settings)
            t = time.perf_counter()
            model = s.fit(U, Y, seed=0, state=state)
            secs[label].append(time.perf_counter() - t)
            value[label] = mll(model)
    print(f"torch threads {torch.get_num_threads()}; Hartmann6, n = {args.n}; median of {args.repeats}")
    print("| GP (kernel), fit | median s | log marginal likelihood / n (+ priors) |\n|---|---:|---:|")
    for label in fits:
        print(f"| {label} | {statistics.median(secs[label]):.3f} | {value[label]:.4f} |")

    model = get_surrogate("gp").fit(U, Y, seed=0)
    fused = ExactGPLogEI(model, Y.max())
    generic = ExactGPLogEI(model, Y.max())
    generic._matern = generic._rbf = generic._const = False
    x = torch.rand(8, 1, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(0))

    def autograd(acq):
        def call():
            xg = x.clone().requires_grad_(True)
            torch.autograd.grad(acq(xg).sum(), xg)

        return call

    calls = {
        "BoTorch LogExpectedImprovement": autograd(LogExpectedImprovement(model, best_f=Y.max())),
        "ExactGPLogEI, generic kernel": autograd(generic),
        "ExactGPLogEI, fused Matern, autograd": autograd(fused),
        "ExactGPLogEI, fused Matern, gradient by hand": lambda: fused.value_and_grad(x[:, 0]),
    }
    ms: dict = {k: [] for k in calls}
    for _ in range(args.repeats):
        for label, call in calls.items():
            t = time.perf_counter()
            for _ in range(20):
                call()
            ms[label].append((time.perf_counter() - t) / 20 * 1000)
    base = statistics.median(ms["BoTorch LogExpectedImprovement"])
    print("\n| LogEI value + gradient, 8 points | median ms | vs BoTorch |\n|---|---:|---:|")
    for label in calls:
        m = statistics.median(ms[label])
        print(f"| {label} | {m:.2f} | {m / base:.2f}x |")


if __name__ == "__main__":
    main()
