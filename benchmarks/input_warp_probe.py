"""Does a learned input warp cut boundary steps on Hartmann6 (issue 20, round 9)? A plain BoTorch
loop, the same with and without BoTorch's Kumaraswamy ``Warp`` input transform (concentration
priors LogNormal(0, 0.75**0.5), as in BoTorch's tutorial): bnnbo's Matern kernel and low-noise
likelihood, Standardize, ``fit_gpytorch_mll``, analytic LogEI, ``optimize_acqf`` (10 restarts,
512 raw samples); 10 scrambled-Sobol initial points and 30 steps. Prints per seed the final regret
and, per step, how many coordinates of its point lie on the bounds.

    python benchmarks/input_warp_probe.py none --seeds 60-79
    python benchmarks/input_warp_probe.py warp --seeds 60-79
"""

from __future__ import annotations

import argparse
import warnings

import torch
from botorch.acquisition import LogExpectedImprovement
from botorch.fit import fit_gpytorch_mll
from botorch.models import SingleTaskGP
from botorch.models.transforms.input import Warp
from botorch.models.transforms.outcome import Standardize
from botorch.optim import optimize_acqf
from gpytorch.mlls import ExactMarginalLogLikelihood
from gpytorch.priors import LogNormalPrior

from bnnbo.problems import get_problem
from bnnbo.surrogates.gaussian.gp import low_noise_likelihood, matern_kernel


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("inputs", choices=["none", "warp"])
    ap.add_argument("--seeds", default="60-79", help="a range FIRST-LAST")
    args = ap.parse_args()
    first, last = (int(s) for s in args.seeds.split("-"))
    warnings.filterwarnings("ignore")
    torch.set_num_threads(1)
    problem = get_problem("hartmann6")
    d = problem.space.dim
    bounds = torch.stack([torch.zeros(d), torch.ones(d)]).double()
    for seed in range(first, last + 1):
        torch.manual_seed(seed)
        X = problem.space.to_unit(problem.space.sobol(10, seed=seed))
        Y = problem.evaluate(problem.space.from_unit(X)).reshape(-1, 1)
        on_bounds = ""
        for _ in range(30):
            prior = LogNormalPrior(0.0, 0.75**0.5)
            warp = Warp(d=d, indices=list(range(d)), concentration1_prior=prior, concentration0_prior=prior)
            gp = SingleTaskGP(
                X,
                Y,
                covar_module=matern_kernel(d),
                likelihood=low_noise_likelihood(),
                outcome_transform=Standardize(m=1),
                input_transform=warp if args.inputs == "warp" else None,
            )
            fit_gpytorch_mll(ExactMarginalLogLikelihood(gp.likelihood, gp))
            x, _ = optimize_acqf(
                LogExpectedImprovement(gp, best_f=Y.max()), bounds=bounds, q=1, num_restarts=10, raw_samples=512
            )
            on_bounds += str(int(((x < 1e-6) | (x > 1 - 1e-6)).sum()))
            X = torch.cat([X, x])
            Y = torch.cat([Y, problem.evaluate(problem.space.from_unit(x)).reshape(-1, 1)])
        print(
            f"seed {seed} {args.inputs} regret {problem.optimal_value - float(Y.max()):.3g} bounds {on_bounds}",
            flush=True,
        )


if __name__ == "__main__":
    main()
