"""How large must the acquisition optimiser's budget be? (chooses the "default" preset)

For each problem and seed: fit the default GP on n Sobol points, build qLogNEI (q=1 and q=4),
maximise it with each candidate budget, and report the acquisition value reached relative to
the best value any budget reached (in EI units, exp of the log-EI), plus seconds.

    python benchmarks/acq_presets.py [--seeds 5] [--n 20]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from bnnbo.acquisition import OptimizerPreset, build_acquisition, optimize_acquisition
from bnnbo.problems import get_problem
from bnnbo.surrogates import get_surrogate

CANDIDATES = {
    "paper 2/16/10": OptimizerPreset(2, 16, 10, 1),
    "4/128/200": OptimizerPreset(4, 128, 200),
    "8/256/200": OptimizerPreset(8, 256, 200),
    "16/512/200": OptimizerPreset(16, 512, 200),
    "32/1024/400": OptimizerPreset(32, 1024, 400),
}


def one(problem_name: str, options: dict, seed: int, n: int, q: int) -> dict[str, tuple[float, float]]:
    problem = get_problem(problem_name, **options)
    X = problem.space.sobol(n, seed=seed)
    U, Y = problem.space.to_unit(X), problem.evaluate(X)
    model = get_surrogate("gp").fit(U, Y, seed=seed)
    out = {}
    for label, preset in CANDIDATES.items():
        torch.manual_seed(seed)
        acq = build_acquisition(model, U, Y, mode="default", ref_point=None, seed=seed)
        t = time.perf_counter()
        cand = optimize_acquisition(acq, problem.space, q, preset, "proper")
        seconds = time.perf_counter() - t
        with torch.no_grad():
            out[label] = (float(acq(cand.unsqueeze(0))), seconds)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--n", type=int, default=20)
    args = ap.parse_args()
    cases = [("hartmann6", {}, 1), ("ackley", {"dim": 10}, 1), ("hartmann6", {}, 4)]
    print(f"torch threads {torch.get_num_threads()}; n = {args.n} training points; seeds 0..{args.seeds - 1}")
    print(f"{'problem':<12}{'q':>3}  {'budget':<14}{'median EI / best':>18}{'min':>8}{'median s':>10}")
    for name, options, q in cases:
        runs = [one(name, options, s, args.n, q) for s in range(args.seeds)]
        for label in CANDIDATES:
            ratios, secs = [], []
            for r in runs:
                best = max(v for v, _ in r.values())
                ratios.append(torch.tensor(r[label][0] - best).exp().item())  # log-EI difference
                secs.append(r[label][1])
            print(
                f"{name:<12}{q:>3}  {label:<14}{statistics.median(ratios):>18.3f}{min(ratios):>8.3f}"
                f"{statistics.median(secs):>10.2f}"
            )


if __name__ == "__main__":
    main()
