"""Short BO runs, ``new`` (today's defaults plus ``--settings``) against ``prev`` (the defaults
before issue 19's second round: ``iteration_cost.PREVIOUS`` settings, the two-stage search with
the baseline evaluated at every call and the first stage rerun after a failed line search): the
best value found and the seconds per run, per seed, side by side in one process.

    python benchmarks/bo_round2.py --surrogates ensemble --seeds 5 --iterations 4 --settings warm_start=True
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

from bnnbo.driver import optimize
from bnnbo.surrogates import posterior

from iteration_cost import PREVIOUS
from warm_fit_quality import settings

_init = posterior.SampleModel.__init__


def _previous_search(self, *args, **kwargs):
    _init(self, *args, **kwargs)
    self.baseline_once, self.retry_coarse = False, True


def one(problem, surrogate, version, seed, q, budget, settings):
    posterior.SampleModel.__init__ = _previous_search if version == "prev" else _init
    try:
        t = time.perf_counter()
        res = optimize(
            problem,
            surrogate,
            budget=budget,
            seed=seed,
            q=q,
            n_init=10,
            surrogate_settings=PREVIOUS.get(surrogate, {}) if version == "prev" else settings,
        )
        seconds = time.perf_counter() - t
    finally:
        posterior.SampleModel.__init__ = _init
    best = float(res.Y.max())
    return {"surrogate": surrogate, "version": version, "seed": seed, "best": best, "seconds": seconds}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--problem", default="hartmann6")
    ap.add_argument("--surrogates", default="hmc,ensemble,sghmc")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--q", type=int, default=10)
    ap.add_argument("--iterations", type=int, default=3)
    ap.add_argument("--settings", default="", help="overrides for the new version, e.g. warm_start=True")
    ap.add_argument("--out")
    args = ap.parse_args()
    torch.set_num_threads(1)
    budget = 10 + args.q * args.iterations
    rows = []
    for seed in range(args.seeds):
        for s in args.surrogates.split(","):
            for version in ("new", "prev"):
                r = one(args.problem, s, version, seed, args.q, budget, settings(args.settings) or None)
                rows.append(r)
                print(json.dumps(r), flush=True)
                if args.out:
                    with open(args.out, "a") as fh:
                        fh.write(json.dumps(r) + "\n")
    print(f"\n{args.problem}, q = {args.q}, 10 initial points + {args.iterations} iterations\n")
    print(
        "| surrogate | seeds | best found, new | best found, prev | new - prev (median, range) | s per run new / prev |"
    )
    print("|---|---:|---|---|---|---:|")
    for s in args.surrogates.split(","):
        by = {(r["version"], r["seed"]): r for r in rows if r["surrogate"] == s}
        seeds = sorted({k[1] for k in by if ("new", k[1]) in by and ("prev", k[1]) in by})
        if not seeds:
            continue
        new = [by[("new", k)]["best"] for k in seeds]
        prev = [by[("prev", k)]["best"] for k in seeds]
        diff = [a - b for a, b in zip(new, prev)]
        ratio = statistics.median(by[("new", k)]["seconds"] / by[("prev", k)]["seconds"] for k in seeds)
        print(
            f"| {s} | {len(seeds)} | {', '.join(f'{v:.3f}' for v in new)} | {', '.join(f'{v:.3f}' for v in prev)} "
            f"| {statistics.median(diff):+.3f} ({min(diff):+.3f} to {max(diff):+.3f}) | {ratio:.2f} |"
        )


if __name__ == "__main__":
    main()
