"""Best-so-far regret along the default loop's runs (issue 20, round 9): when a run reaches
the basin it ends in. Prints one line per seed: the final regret, the evaluation after which
the regret first fell below 0.3, the regret after every third evaluation from the tenth, and
per model-based step how many coordinates of its point lie on the search box's bounds.

    python benchmarks/default_loop_trace.py --problem hartmann6 --seeds 60-89
"""

from __future__ import annotations

import argparse

import torch
from default_loop import PROBLEMS, cost

from bnnbo.optimizer import Optimizer
from bnnbo.problems import get_problem


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--problem", default="hartmann6", choices=list(PROBLEMS))
    ap.add_argument("--seeds", default="60-89", help="a range FIRST-LAST")
    ap.add_argument("--n-init", type=int, default=10)
    ap.add_argument("--iterations", type=int, default=30)
    args = ap.parse_args()
    first, last = (int(s) for s in args.seeds.split("-"))
    torch.set_num_threads(1)
    name, options = PROBLEMS[args.problem]
    problem = get_problem(name, **options)
    best = -problem.optimal_value
    for seed in range(first, last + 1):
        opt = Optimizer(problem.space, seed=seed, n_init=args.n_init, q=1, maximize=False)
        X = opt.ask(args.n_init)
        opt.tell(X, cost(problem, X))
        trace = [float(opt.Y.min()) - best]
        on_bounds = ""
        for _ in range(args.iterations):
            x = opt.ask()
            opt.tell(x, cost(problem, x))
            trace.append(float(opt.Y.min()) - best)
            u = problem.space.to_unit(x, opt.encoding)[0]
            on_bounds += str(int(((u < 1e-6) | (u > 1 - 1e-6)).sum()))
        below = next((args.n_init + i for i, r in enumerate(trace) if r < 0.3), None)
        print(
            f"seed {seed} final {trace[-1]:.3g} below 0.3 after {below} evaluations;",
            " ".join(f"{r:.2g}" for r in trace[::3]) + ";",
            f"coordinates on the bounds per step {on_bounds}",
            flush=True,
        )


if __name__ == "__main__":
    main()
