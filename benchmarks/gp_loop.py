"""Per-iteration time of bnnbo's GP loop next to a plain BoTorch loop with the same settings.

Both loops start from the same Sobol design and seed each iteration's random streams the same
way, so they should propose the same points; the script checks that and prints the median
seconds per iteration of each and their ratio (target <= 1.1x).

    python benchmarks/gp_loop.py [--problem hartmann6] [--iterations 20] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from botorch.acquisition import qLogNoisyExpectedImprovement
from botorch.fit import fit_gpytorch_mll
from botorch.models import SingleTaskGP
from botorch.models.transforms.outcome import Standardize
from botorch.optim import optimize_acqf
from botorch.sampling import SobolQMCNormalSampler
from gpytorch.mlls import ExactMarginalLogLikelihood

from bnnbo import Optimizer, get_problem
from bnnbo.acquisition import OPTIMIZER_PRESETS, NUM_MC_SAMPLES
from bnnbo.optimizer import derive_seed


def plain_botorch(problem, n_init: int, iterations: int, seed: int) -> tuple[torch.Tensor, list[float]]:
    """The loop a BoTorch user would write: normalise, fit, qLogNEI, optimize_acqf."""
    preset = OPTIMIZER_PRESETS["default"]
    bounds = problem.space.bounds
    X = problem.space.sobol(n_init, seed=derive_seed(seed, "init"))
    Y = problem.evaluate(X)
    times = []
    for _ in range(iterations):
        t = time.perf_counter()
        step = derive_seed(seed, X.shape[0])
        with torch.random.fork_rng():
            torch.manual_seed(step)
            U = (X - bounds[0]) / (bounds[1] - bounds[0])
            gp = SingleTaskGP(U, Y, outcome_transform=Standardize(m=1))
            with torch.random.fork_rng():  # bnnbo seeds each fit from the step seed too
                torch.manual_seed(step)
                fit_gpytorch_mll(ExactMarginalLogLikelihood(gp.likelihood, gp))
            acq = qLogNoisyExpectedImprovement(
                gp,
                X_baseline=U,
                sampler=SobolQMCNormalSampler(torch.Size([NUM_MC_SAMPLES]), seed=step),
                prune_baseline=True,
            )
            unit = torch.stack([torch.zeros(U.shape[-1]), torch.ones(U.shape[-1])]).double()
            cand, _ = optimize_acqf(
                acq,
                unit,
                q=1,
                num_restarts=preset.num_restarts,
                raw_samples=preset.raw_samples,
                options={"maxiter": preset.maxiter},
            )
        x = bounds[0] + cand.detach() * (bounds[1] - bounds[0])
        times.append(time.perf_counter() - t)
        X, Y = torch.cat([X, x]), torch.cat([Y, problem.evaluate(x)])
    return X, times


def ours(problem, n_init: int, iterations: int, seed: int) -> tuple[torch.Tensor, list[float]]:
    opt = Optimizer(problem.space, seed=seed, n_init=n_init, acquisition="mc")  # the qLogNEI loop, cold fits
    X = opt.ask(n_init)
    opt.tell(X, problem.evaluate(X))
    times = []
    for _ in range(iterations):
        t = time.perf_counter()
        x = opt.ask()
        times.append(time.perf_counter() - t)
        opt.tell(x, problem.evaluate(x))
    return opt.X, times


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--problem", default="hartmann6")
    ap.add_argument("--n-init", type=int, default=10)
    ap.add_argument("--iterations", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=3, help="seeds; loops alternate to share machine noise")
    args = ap.parse_args()
    problem = get_problem(args.problem)
    plain_botorch(problem, args.n_init, 1, 99)  # warm-up: first calls pay for lazy imports
    ours(problem, args.n_init, 1, 99)
    t_plain, t_ours, same = [], [], 0
    for seed in range(args.repeats):
        Xp, tp = plain_botorch(problem, args.n_init, args.iterations, seed)
        Xo, to = ours(problem, args.n_init, args.iterations, seed)
        t_plain += tp
        t_ours += to
        # L-BFGS-B amplifies round-off, so "same" means equal to 1e-3 in original units
        same += int(torch.allclose(Xp, Xo, atol=1e-3))
    mp, mo = statistics.median(t_plain), statistics.median(t_ours)
    print(
        f"{args.problem}: {args.n_init} initial + {args.iterations} iterations x {args.repeats} seeds, "
        f"torch threads {torch.get_num_threads()}"
    )
    print(f"identical proposals in {same}/{args.repeats} seeds")
    print(f"plain BoTorch loop: median {mp:.3f} s/iteration (total {sum(t_plain):.1f} s)")
    print(f"bnnbo Optimizer:    median {mo:.3f} s/iteration (total {sum(t_ours):.1f} s)")
    print(f"ratio bnnbo / plain: median {mo / mp:.3f}, total {sum(t_ours) / sum(t_plain):.3f}")


if __name__ == "__main__":
    main()
