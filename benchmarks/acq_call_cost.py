"""What one evaluation (value and gradient) of a sample model's qLogNEI costs, by the number of
points it covers: ``t`` restarts of ``q`` points, on all the acquisition's networks and on the
first stage's (``posterior.COARSE_SAMPLES``). One `hmc` fit on Hartmann6 (n Sobol points).

    python benchmarks/acq_call_cost.py --n 10 --repeats 20
"""

from __future__ import annotations

import argparse
import time

import torch

from bnnbo import acquisition
from bnnbo.problems import get_problem
from bnnbo.surrogates import get_surrogate


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--shapes", default="2x1,8x1,2x10,8x10", help="restarts x points per evaluation")
    args = ap.parse_args()
    torch.set_num_threads(1)
    problem = get_problem("hartmann6")
    X = problem.space.sobol(args.n, seed=args.seed)
    U, Y = problem.space.to_unit(X), problem.evaluate(X)
    model = get_surrogate("hmc").fit(U, Y, seed=args.seed)
    acq = acquisition.build_acquisition(model, U, Y, mode="default", ref_point=None, seed=args.seed)
    coarse = acquisition._coarse_acquisition(acq)
    gen = torch.Generator().manual_seed(args.seed)
    print("| networks | restarts x points | ms per evaluation (value and gradient) |")
    print("|---:|---|---:|")
    for name, a in ((acq.sampler.sample_shape[0], acq), (coarse.sampler.sample_shape[0], coarse)):
        for shape in args.shapes.split(","):
            t, q = (int(v) for v in shape.split("x"))
            x = torch.rand(t, q, U.shape[-1], dtype=torch.float64, generator=gen, requires_grad=True)
            torch.autograd.grad(a(x).sum(), x)  # warm-up: the baseline, the weights' gather
            start = time.perf_counter()
            for _ in range(args.repeats):
                torch.autograd.grad(a(x).sum(), x)
            ms = (time.perf_counter() - start) / args.repeats * 1000
            print(f"| {name} | {t} x {q} | {ms:.1f} |")


if __name__ == "__main__":
    main()
