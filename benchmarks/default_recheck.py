"""Did the q = 1 default's changes make the batch (q > 1) and multi-objective defaults worse?

Batches keep their MC acquisition (qLogNEI / qLogNEHVI) and the "default" optimiser preset;
several objectives at q = 1 now use the q = 1 GP (Matern, low noise, warm starts) under analytic
LogEHVI with the "analytic" preset (issue 14). This runs each case with today's default ("gp
now") and with the GP as it was before (BoTorch's GP, noise prior, cold fits: for several
objectives at q = 1 that also brings back qLogNEHVI and the "default" preset, i.e. the whole
previous loop), interleaved per seed, and prints the final outcome (hypervolume for several
objectives, regret for one) and wall seconds per run.

    python benchmarks/default_recheck.py [--seeds 3] [--cases 0 1 2]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from bnnbo import optimize
from bnnbo.problems import get_problem

CASES = [  # (problem, q, n_init, budget)
    ("branincurrin", 1, 10, 30),
    ("branincurrin", 4, 10, 30),
    ("hartmann6", 4, 10, 34),
]
GPS = {"gp now": {}, "gp before": {"noise": "learned", "warm_start": False, "kernel": "botorch"}}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument(
        "--cases",
        type=int,
        nargs="+",
        default=list(range(len(CASES))),
        help="indices into CASES (to run them as parallel processes)",
    )
    args = ap.parse_args()
    torch.set_num_threads(1)
    print(f"{'problem':<13}{'q':>3}  {'GP':<10}{'median outcome':>16}{'seeds':>28}{'median s':>10}")
    for name, q, n_init, budget in [CASES[i] for i in args.cases]:
        problem = get_problem(name)
        out = {label: ([], []) for label in GPS}
        for seed in range(args.seeds):
            for label, settings in list(GPS.items()) if seed % 2 == 0 else list(GPS.items())[::-1]:
                t = time.perf_counter()
                r = optimize(problem, "gp", budget=budget, seed=seed, q=q, n_init=n_init, surrogate_settings=settings)
                seconds = time.perf_counter() - t
                value = float(r.trace[-1]) if problem.num_objectives > 1 else problem.optimal_value - r.best_value
                out[label][0].append(value)
                out[label][1].append(seconds)
        what = "hypervolume" if problem.num_objectives > 1 else "regret"
        for label, (values, secs) in out.items():
            seeds = " ".join(f"{v:.4g}" for v in values)
            print(
                f"{name:<13}{q:>3}  {label:<10}{statistics.median(values):>12.4g} {what[:3]}{seeds:>28}"
                f"{statistics.median(secs):>10.1f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
