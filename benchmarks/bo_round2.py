"""Short BO runs, ``new`` (today's defaults plus ``--settings``) against ``prev`` (the defaults
before issue 19's second round: ``iteration_cost.PREVIOUS`` settings, the two-stage search with
the baseline evaluated at every call and the first stage rerun after a failed line search): the
best value found and the seconds per run, per seed, side by side in one process. With
``--against defaults`` the second version is today's defaults instead (same search), so only
``--settings`` differs. With ``--against joint`` it is today's defaults with the joint batch
search of issue 19's rounds one to four instead of the greedy one (round five).

    python benchmarks/bo_round2.py --surrogates ensemble --seeds 5 --iterations 4 --settings warm_start=True
    python benchmarks/bo_round2.py --surrogates hmc --seeds 5 --settings pretrain_steps=0 --against defaults
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


def _joint_search(self, *args, **kwargs):
    _init(self, *args, **kwargs)
    self.greedy_batches = False


def one(problem, surrogate, version, seed, q, budget, settings):
    # "defaults": today's search and defaults; "prev": round one's search and settings;
    # "joint": today's defaults with the joint two-stage batch search of rounds one to four
    posterior.SampleModel.__init__ = {"prev": _previous_search, "joint": _joint_search}.get(version, _init)
    try:
        t = time.perf_counter()
        res = optimize(
            problem,
            surrogate,
            budget=budget,
            seed=seed,
            q=q,
            n_init=10,
            surrogate_settings=(
                PREVIOUS.get(surrogate, {})
                if version == "prev"
                else None
                if version in ("defaults", "joint")
                else settings
            ),
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
    ap.add_argument(
        "--against", choices=("prev", "defaults", "joint"), default="prev", help="the version compared with"
    )
    ap.add_argument("--first-seed", type=int, default=0, help="seeds first-seed .. first-seed + seeds - 1")
    ap.add_argument("--summarise", nargs="*", help="print the table of these --out files (no runs)")
    ap.add_argument("--out")
    args = ap.parse_args()
    torch.set_num_threads(1)
    budget = 10 + args.q * args.iterations
    rows = []
    base = args.against
    if args.summarise:
        for path in args.summarise:
            with open(path) as fh:
                rows += [json.loads(line) for line in fh if line.strip()]
        base = next((r["version"] for r in rows if r["version"] != "new"), base)
    for seed in range(args.first_seed, args.first_seed + args.seeds) if not args.summarise else ():
        for s in args.surrogates.split(","):
            for version in ("new", base):
                r = one(args.problem, s, version, seed, args.q, budget, settings(args.settings) or None)
                rows.append(r)
                print(json.dumps(r), flush=True)
                if args.out:
                    with open(args.out, "a") as fh:
                        fh.write(json.dumps(r) + "\n")
    print(f"\n{args.problem}, q = {args.q}, 10 initial points + {args.iterations} iterations\n")
    print(
        f"| surrogate | seeds | best found, new | best found, {base} | new - {base} (median, range) "
        f"| s per run new / {base} |"
    )
    print("|---|---:|---|---|---|---:|")
    for s in args.surrogates.split(","):
        by = {(r["version"], r["seed"]): r for r in rows if r["surrogate"] == s}
        seeds = sorted({k[1] for k in by if ("new", k[1]) in by and (base, k[1]) in by})
        if not seeds:
            continue
        new = [by[("new", k)]["best"] for k in seeds]
        prev = [by[(base, k)]["best"] for k in seeds]
        diff = [a - b for a, b in zip(new, prev)]
        ratio = statistics.median(by[("new", k)]["seconds"] / by[(base, k)]["seconds"] for k in seeds)
        print(
            f"| {s} | {len(seeds)} | {', '.join(f'{v:.3f}' for v in new)} | {', '.join(f'{v:.3f}' for v in prev)} "
            f"| {statistics.median(diff):+.3f} ({min(diff):+.3f} to {max(diff):+.3f}) | {ratio:.2f} |"
        )


if __name__ == "__main__":
    main()
