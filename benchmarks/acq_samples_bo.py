"""Does the sample-based acquisition's MC sample count change the BO outcome?

For each seed, two BO runs of a sample-based surrogate on one problem, alternately step by
step so the machine's drift hits both alike: the default (``posterior.ACQUISITION_SAMPLES``
networks per acquisition evaluation) and the count before issue 19 (128). Reports the best
value found after each batch and the seconds per model-based iteration.

    python benchmarks/acq_samples_bo.py --surrogate hmc --problem hartmann6 --q 10 --iterations 3 --seeds 5
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from bnnbo.optimizer import Optimizer
from bnnbo.problems import get_problem
from bnnbo.surrogates import get_surrogate, posterior

DEFAULT = posterior.ACQUISITION_SAMPLES
SETTINGS = {"default": DEFAULT, "before": 128}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--surrogate", default="hmc")
    ap.add_argument("--problem", default="hartmann6")
    ap.add_argument("--q", type=int, default=10)
    ap.add_argument("--n-init", type=int, default=10)
    ap.add_argument("--iterations", type=int, default=3)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} thread(s); {vars(args)}; MC samples {SETTINGS}")
    best = {k: [] for k in SETTINGS}
    secs = {k: [] for k in SETTINGS}
    for seed in range(args.seeds):
        problem = get_problem(args.problem)
        opts = {k: Optimizer(problem.space, surrogate=get_surrogate(args.surrogate), seed=seed, q=args.q,
                             n_init=args.n_init) for k in SETTINGS}
        for k, opt in opts.items():  # the shared initial design
            X = opt.ask(args.n_init)
            opt.tell(X, problem.evaluate(X))
        for _ in range(args.iterations):
            for k, opt in opts.items():
                posterior.ACQUISITION_SAMPLES = SETTINGS[k]
                t = time.perf_counter()
                X = opt.ask()
                secs[k].append(time.perf_counter() - t)
                opt.tell(X, problem.evaluate(X))
        posterior.ACQUISITION_SAMPLES = DEFAULT
        for k, opt in opts.items():
            best[k].append(float(opt.Y.max()))
        print(f"seed {seed}: best " + ", ".join(f"{k} {best[k][-1]:.4f}" for k in SETTINGS), flush=True)
    print("\n| MC samples | median best | per seed | median s / iteration |")
    print("|---|---:|---|---:|")
    for k, v in SETTINGS.items():
        print(f"| {k} ({v}) | {statistics.median(best[k]):.4f} | {', '.join(f'{b:.3f}' for b in best[k])} "
              f"| {statistics.median(secs[k]):.2f} |")
    diffs = [a - b for a, b in zip(best["default"], best["before"])]
    print(f"\nbest(default) - best(before) per seed: {', '.join(f'{d:+.4f}' for d in diffs)}; "
          f"median {statistics.median(diffs):+.4f}")


if __name__ == "__main__":
    main()
