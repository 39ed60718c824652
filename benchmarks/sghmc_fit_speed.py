"""``sghmc`` fits with the in-place ``SGHMCStepper`` against the allocating reference step
(``SGHMCSurrogate.reference_step``), alternating in one process so the machine's drift hits
both alike; checks that both give the same networks (bit for bit) and prints the per-pair
seconds and the median ratio. Hartmann6 Sobol points, default settings, torch on one thread.

    python benchmarks/sghmc_fit_speed.py --n 10,100 --seeds 3
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from bnnbo.problems import get_problem
from bnnbo.surrogates.networks.sghmc import SGHMCSurrogate


def fit(U, Y, seed: int, reference: bool):
    SGHMCSurrogate.reference_step = reference
    try:
        t = time.perf_counter()
        model = SGHMCSurrogate().fit(U, Y, seed=seed)
        return model.samples, time.perf_counter() - t
    finally:
        SGHMCSurrogate.reference_step = False


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", default="10,100")
    ap.add_argument("--seeds", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(1)
    problem = get_problem("hartmann6")
    print("| n | seed | reference s | in place s | in place / reference | same networks |")
    print("|---:|---:|---:|---:|---:|---|")
    ratios = []
    for n in map(int, args.n.split(",")):
        for seed in range(args.seeds):
            X = problem.space.sobol(n, seed=seed)
            U, Y = problem.space.to_unit(X), problem.evaluate(X)
            # the order alternates with the seed so neither always runs first
            order = (True, False) if seed % 2 == 0 else (False, True)
            out = {ref: fit(U, Y, seed, ref) for ref in order}
            same = torch.equal(out[True][0], out[False][0])
            ratios.append(out[False][1] / out[True][1])
            print(
                f"| {n} | {seed} | {out[True][1]:.2f} | {out[False][1]:.2f} | {ratios[-1]:.2f} | {'yes' if same else 'NO'} |",
                flush=True,
            )
    print(f"\nmedian in place / reference: {statistics.median(ratios):.2f} ({len(ratios)} pairs)")


if __name__ == "__main__":
    main()
