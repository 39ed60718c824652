"""Where the default loop's model-based steps go on Branin, whose three global minima are equal
(issue 20, round 15): per seed, the final regret, the minimum whose basin (nearest minimum) holds
the best point, how many of the 30 model-based steps went to each basin, the best regret of each
basin's points (the initial design's included); then the mean share of the steps in the final best
point's basin.

    python benchmarks/default_loop_basins.py --seeds 60-89 [--tool bnnbo/incumbent-6 | optuna-gp]
"""

from __future__ import annotations

import argparse
import math
import statistics

import torch
from default_loop import PROBLEMS, VARIANTS, _optuna_params, cost

from bnnbo.optimizer import Optimizer
from bnnbo.problems import get_problem

#: Branin's three global minimisers
MINIMA = torch.tensor([[-math.pi, 12.275], [math.pi, 2.275], [9.42478, 2.475]], dtype=torch.float64)


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--seeds", default="60-89", help="a range FIRST-LAST")
    ap.add_argument(
        "--tool", default="bnnbo", choices=[*(v for v in VARIANTS if "design" not in VARIANTS[v]), "optuna-gp"]
    )
    ap.add_argument("--n-init", type=int, default=10)
    ap.add_argument("--iterations", type=int, default=30)
    args = ap.parse_args()
    first, last = (int(s) for s in args.seeds.split("-"))
    torch.set_num_threads(1)
    name, options = PROBLEMS["branin"]
    problem = get_problem(name, **options)
    optimum = -problem.optimal_value
    shares = []
    for seed in range(first, last + 1):
        X, Y = run(args.tool, problem, seed, args.n_init, args.iterations)
        regret = Y - optimum
        basin = torch.cdist(X, MINIMA).argmin(1)
        final = int(basin[regret.argmin()])
        steps = basin[args.n_init :].tolist()
        per_basin = [steps.count(b) for b in range(3)]
        best = [f"{float(regret[basin == b].min()):.1e}" if (basin == b).any() else "-" for b in range(3)]
        shares.append(per_basin[final] / len(steps))
        print(
            f"seed {seed}: final regret {float(regret.min()):.2e} in basin {final}; "
            f"steps per basin {per_basin}; best regret per basin {best}; order {''.join(map(str, steps))}"
        )
    print(
        f"{args.tool}, seeds {first}-{last}: mean share of the steps in the final best point's basin "
        f"{statistics.fmean(shares):.2f} (min {min(shares):.2f}, max {max(shares):.2f})"
    )


def run(tool: str, problem, seed: int, n_init: int, iterations: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The points (original units) and values (minimised) of one run of ``tool``."""
    if tool == "optuna-gp":  # as benchmarks/default_loop.py runs GPSampler, keeping every trial
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        sampler = optuna.samplers.GPSampler(seed=seed, n_startup_trials=n_init)
        study = optuna.create_study(direction="minimize", sampler=sampler)
        rows: list[torch.Tensor] = []

        def objective(trial) -> float:
            rows.append(_optuna_params(trial, problem.space))
            return float(cost(problem, rows[-1]))

        study.optimize(objective, n_trials=n_init + iterations)
        return torch.cat(rows), torch.tensor([t.value for t in study.trials], dtype=torch.float64)
    opt = Optimizer(problem.space, seed=seed, n_init=n_init, q=1, maximize=False, **VARIANTS[tool])
    X = opt.ask(n_init)
    opt.tell(X, cost(problem, X))
    for _ in range(iterations):
        x = opt.ask()
        opt.tell(x, cost(problem, x))
    return opt.X, opt.Y[:, 0]


if __name__ == "__main__":
    main()
