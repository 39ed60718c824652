"""How many training points survive qLogNEI's baseline pruning per sample-based surrogate (each
is evaluated with the candidates unless the baseline is computed once), with the networks'
largest and root-mean-square weights.

    python benchmarks/pruned_baseline.py --n 100 --seeds 2
"""

from __future__ import annotations

import argparse

import torch
from botorch.acquisition import qLogNoisyExpectedImprovement
from botorch.sampling.get_sampler import get_sampler

from bnnbo.problems import get_problem
from bnnbo.surrogates import get_surrogate


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--surrogates", default="sghmc,hmc,ensemble")
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--seeds", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(1)
    problem = get_problem("hartmann6")
    print("| surrogate | seed | networks | baseline points kept | max abs weight | rms weight |")
    print("|---|---:|---:|---:|---:|---:|")
    for seed in range(args.seeds):
        X = problem.space.sobol(args.n, seed=seed)
        U, Y = problem.space.to_unit(X), problem.evaluate(X)
        for name in args.surrogates.split(","):
            model = get_surrogate(name).fit(U, Y, seed=seed)
            sampler = get_sampler(model.posterior(U[:1]), sample_shape=torch.Size([128]), seed=seed)
            acq = qLogNoisyExpectedImprovement(model, X_baseline=U, sampler=sampler, prune_baseline=True)
            w = model.samples
            print(
                f"| {name} | {seed} | {model.num_samples} | {acq.X_baseline.shape[0]} | {float(w.abs().max()):.1f} "
                f"| {float(w.pow(2).mean().sqrt()):.2f} |"
            )


if __name__ == "__main__":
    main()
