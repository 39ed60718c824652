"""Cost per evaluation of every registered problem (the numbers in docs/problems.md).

For each problem: seconds to build it, seconds of the first ``evaluate`` call (includes any
one-off work: numba compilation, the distill teacher, lunar's worker pool), then the median
seconds per point over ``--repeats`` single-point calls at Sobol points, as the BO loop
evaluates them with q = 1. Run it on an otherwise idle machine (it uses all cores: lunar's
episodes run in parallel worker processes):

    python benchmarks/problem_costs.py [--repeats 5] [--only pde lunar]
"""

from __future__ import annotations

import argparse
import statistics
import time

from bnnbo.errors import UnavailableError
from bnnbo.problems import PROBLEMS, get_problem


def measure(name: str, repeats: int) -> dict:
    t0 = time.perf_counter()
    problem = get_problem(name)
    t1 = time.perf_counter()
    X = problem.space.sobol(repeats + 1, seed=0)
    problem.evaluate(X[:1])
    t2 = time.perf_counter()
    times = []
    for x in X[1:]:
        s = time.perf_counter()
        problem.evaluate(x.unsqueeze(0))
        times.append(time.perf_counter() - s)
    if hasattr(problem, "close"):
        problem.close()
    return {"build": t1 - t0, "first": t2 - t1, "median": statistics.median(times), "max": max(times)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--only", nargs="*", default=None, help="problem names (default: all)")
    args = parser.parse_args()
    print(f"{'problem':<14}{'build s':>10}{'first s':>10}{'median s':>12}{'max s':>10}")
    for name in args.only or list(PROBLEMS):
        try:
            r = measure(name, args.repeats)
        except UnavailableError as exc:
            print(f"{name:<14}unavailable: {str(exc)[:60]}...")
            continue
        print(f"{name:<14}{r['build']:>10.3f}{r['first']:>10.3f}{r['median']:>12.4g}{r['max']:>10.4g}")


if __name__ == "__main__":
    main()
