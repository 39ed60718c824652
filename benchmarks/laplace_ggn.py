"""Cost and quality of the linearised Laplace surrogate's exact-GGN (function-space) posterior.

Times the MAP fit, the Laplace step (NTK Gram matrix, its eigenvalues, evidence tuning,
Cholesky) and one acquisition-sized posterior (256 x q=10 points, 128 samples, backward) for
growing n; then compares held-out quality of linearising all weights vs the output layer only.

    OMP_NUM_THREADS=1 python benchmarks/laplace_ggn.py
"""

from __future__ import annotations

import time
import warnings

import torch

from bnnbo import get_problem, get_surrogate
from bnnbo.assess import assess, to_markdown
from bnnbo.surrogates.networks.laplace import ntk, ntk_terms, tune_hypers
from bnnbo.surrogates.networks.mlp import MLPSpec


def timings(ns=(50, 100, 200, 400), d=6, widths=(128, 128, 128)) -> None:
    pb = get_problem("hartmann6")
    spec = MLPSpec(d, widths, 1, "tanh")
    print(
        f"network {d} -> {widths} -> 1: P = {spec.num_params} weights; a weight-space GGN would be "
        f"P x P = {spec.num_params**2 * 8 / 2**30:.1f} GiB in float64 (KFAC's reason to exist)"
    )
    print("| n | MAP fit s | Laplace step s | posterior 256x10 + grad s |\n|---|---|---|---|")
    for n in ns:
        X = pb.space.to_unit(pb.space.sobol(n, seed=0))
        Y = pb.evaluate(pb.space.from_unit(X))
        sur = get_surrogate("laplace", widths=widths)
        t0 = time.perf_counter()
        model = sur.fit(X, Y)
        total = time.perf_counter() - t0
        t1 = time.perf_counter()
        theta = sur.state_["theta"]
        with torch.no_grad():
            f, *terms = ntk_terms(spec, theta, X)
            lam = torch.linalg.eigvalsh(ntk(terms, terms).reshape(n, n))
            tune_hypers(sur.settings, lam, (f**2).sum(), (theta**2).sum())
            ntk(terms, terms)
        step = time.perf_counter() - t1
        Xt = torch.rand(256, 10, d, dtype=torch.float64, requires_grad=True)
        t2 = time.perf_counter()
        model.posterior(Xt).rsample(torch.Size([128])).sum().backward()
        post = time.perf_counter() - t2
        print(f"| {n} | {total - step:.2f} | {step:.3f} | {post:.3f} |")


def quality(problems=("branin", "hartmann6", "ackley"), n=100) -> None:
    for pb in problems:
        res = assess(
            pb,
            ["gp", "laplace", "laplace/last_layer"],
            n=n,
            m=1000,
            settings={"laplace/last_layer": {"weights": "last_layer"}},
        )
        print(f"\n{pb}, n={n}\n" + to_markdown(res))


if __name__ == "__main__":
    warnings.filterwarnings("ignore")
    torch.set_num_threads(1)
    timings()
    quality()
