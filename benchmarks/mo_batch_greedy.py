"""Multi-objective batches in the default mode: qLogNEHVI optimised greedily (preset
"sequential", the default for q > 1 with several objectives) against jointly (preset "default",
the previous default), same budget of restarts and raw samples.

Per seed, one BO run with each preset (interleaved, the order alternating), reporting the final
dominated hypervolume (higher is better) and the wall time. In the greedy run, at every batch
the same acquisition (same fitted model, same MC samples) is also optimised jointly, and both
batches are scored by the joint q-batch qLogNEHVI: the acquisition value each optimiser reaches.

    python benchmarks/mo_batch_greedy.py [--problem branincurrin] [--q 4] [--seeds 3] [--first-seed 0]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

import torch

from bnnbo import Optimizer, get_problem
from bnnbo.acquisition import OPTIMIZER_PRESETS, build_acquisition, optimize_acquisition
from bnnbo.metrics import final_value
from bnnbo.optimizer import derive_seed

PRESETS = {"greedy": "sequential", "joint": "default"}


def run(problem, seed: int, q: int, n_init: int, batches: int, preset: str, compare: bool) -> dict:
    opt = Optimizer.for_problem(problem, "gp", seed=seed, q=q, n_init=n_init, acq_optimizer=preset)
    X = opt.ask(n_init)
    opt.tell(X, problem.evaluate(X))
    gaps = []
    t0 = time.perf_counter()
    extra = 0.0  # the comparison's own time, not the run's
    for _ in range(batches):
        X = opt.ask()
        if compare:
            t1 = time.perf_counter()  # the joint optimiser on the acquisition this ask just used
            n = opt.n_told
            U = opt.space.to_unit(opt.X, opt.encoding)
            Y = opt.to_max(opt.Y)
            acq = build_acquisition(
                opt.last_model, U, Y, mode=opt.mode, ref_point=opt._ref_point_max(Y), seed=derive_seed(seed, n), q=q
            )
            with torch.random.fork_rng():
                torch.manual_seed(derive_seed(seed, n))
                joint = optimize_acquisition(acq, opt.space, q, OPTIMIZER_PRESETS["default"], "proper")
            with torch.no_grad():
                mine = float(acq(opt.space.to_unit(X, opt.encoding).unsqueeze(0)))
                theirs = float(acq(joint.unsqueeze(0)))
            gaps.append((mine, theirs))
            extra += time.perf_counter() - t1
        opt.tell(X, problem.evaluate(X))
    seconds = time.perf_counter() - t0 - extra
    hv = final_value(opt.to_max(opt.Y), problem.ref_point)
    return {"hv": hv, "seconds": seconds, "acq": gaps}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--problem", default="branincurrin")
    ap.add_argument("--q", type=int, default=4)
    ap.add_argument("--n-init", type=int, default=10)
    ap.add_argument("--batches", type=int, default=5)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--first-seed", type=int, default=0)
    ap.add_argument("--save", help="write per-seed results to this JSON file")
    args = ap.parse_args()
    torch.set_num_threads(1)
    problem = get_problem(args.problem)
    rows = []
    for k, seed in enumerate(range(args.first_seed, args.first_seed + args.seeds)):
        order = list(PRESETS) if k % 2 == 0 else list(PRESETS)[::-1]
        for label in order:
            r = run(problem, seed, args.q, args.n_init, args.batches, PRESETS[label], compare=label == "greedy")
            rows.append({"seed": seed, "optimiser": label} | r)
            print(f"seed {seed} {label:<7} HV {r['hv']:.4f} {r['seconds']:.1f} s", file=sys.stderr, flush=True)
            if args.save:
                json.dump({"command": " ".join(sys.argv), "rows": rows}, open(args.save, "w"), indent=1)
    print(f"{args.problem}, q = {args.q}, {args.n_init} initial + {args.batches} batches")
    print("| optimiser | seeds | median final HV | seeds' HV | median s |")
    print("|---|---:|---:|---|---:|")
    for label in PRESETS:
        mine = [r for r in rows if r["optimiser"] == label]
        hv = [r["hv"] for r in mine]
        print(
            f"| {label} | {len(mine)} | {statistics.median(hv):.4g} | {', '.join(f'{v:.4g}' for v in hv)} | "
            f"{statistics.median(r['seconds'] for r in mine):.1f} |"
        )
    gaps = [g for r in rows for g in r["acq"]]
    if gaps:
        diff = [a - b for a, b in gaps]
        print(
            f"\nqLogNEHVI of the batch, greedy minus joint, same acquisition ({len(diff)} asks): median "
            f"{statistics.median(diff):.3g}, range {min(diff):.3g} to {max(diff):.3g}; greedy >= joint in "
            f"{sum(d >= 0 for d in diff)} of {len(diff)}"
        )


if __name__ == "__main__":
    main()
