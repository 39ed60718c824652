"""auto with several objectives: served its chosen candidate's acquisition, or always qLogNEHVI?

``auto`` used to get sampled qLogNEHVI and the "default" optimiser preset whatever it chose; now,
when it chose the GP, it gets the GP's analytic LogEHVI and "analytic" preset (``_serving`` in
bnnbo/optimizer.py). This runs auto_suite's ``auto`` runs both ways, side by side in one process
(seed-major, the order alternating per seed), on development seeds (not auto_suite's reported 0-9).
"before" patches ``_serving`` back to the surrogate itself, nothing else.

Decision rule, fixed before the runs: keep the change if, on each problem, the median over seeds of
the time per iteration (fit + acquisition) drops and the median final hypervolume is lower than
before's by no more than one standard error of the paired (after - before) differences.

    OMP_NUM_THREADS=1 python benchmarks/auto_mo_serving.py run --problems branincurrin --seeds 10-19
    python benchmarks/auto_mo_serving.py table
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse
import json
import math
import statistics
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import auto_suite  # noqa: E402

import bnnbo.optimizer as optimizer_module  # noqa: E402

STORE = auto_suite.ROOT / "benchmarks" / "results" / "auto_mo_serving.jsonl"  # one per process: --store
SERVING = {"after": optimizer_module._serving, "before": lambda surrogate: surrogate}


def cmd_run(args) -> None:
    torch.set_num_threads(1)
    store = Path(args.store)
    for seed in auto_suite.parse_seeds(args.seeds):
        for problem in args.problems.split(","):
            order = list(SERVING) if seed % 2 == 0 else list(SERVING)[::-1]
            for how in order:
                done = {(r["problem"], r["seed"], r["serving"]) for r in auto_suite.load_store(store)}
                if (problem, seed, how) in done:
                    continue
                optimizer_module._serving = SERVING[how]
                row = {**auto_suite.run_one(problem, "auto", seed), "serving": how}
                with store.open("a") as fh:
                    fh.write(json.dumps(row) + "\n")
                print(f"{problem} seed {seed} {how}: {row.get('final', row.get('reason'))}", flush=True)


def _per_iter(r: dict) -> float:
    return statistics.fmean(f + a for f, a in zip(r["fit_seconds"], r["acq_seconds"]))


def cmd_table(args) -> None:
    rows = [r for f in args.store for r in auto_suite.load_store(Path(f)) if r["status"] == "ok"]
    for problem in dict.fromkeys(r["problem"] for r in rows):
        by = {(r["seed"], r["serving"]): r for r in rows if r["problem"] == problem}
        seeds = sorted({s for s, _ in by if (s, "before") in by and (s, "after") in by})
        if not seeds:
            continue
        print(f"\n{problem} ({len(seeds)} seeds)\n")
        print("| seed | HV before | HV after | s/iter before | s/iter after | after chose gp |")
        print("|---|---|---|---|---|---|")
        for s in seeds:
            b, a = by[(s, "before")], by[(s, "after")]
            gp = sum(it.get("choice") == "gp" for it in a["auto"]) / len(a["auto"])
            print(f"| {s} | {b['final']:.6g} | {a['final']:.6g} | {_per_iter(b):.3g} | {_per_iter(a):.3g} | {gp:.0%} |")
        hv = {k: [by[(s, k)]["final"] for s in seeds] for k in SERVING}
        t = {k: [_per_iter(by[(s, k)]) for s in seeds] for k in SERVING}
        diff = [x - y for x, y in zip(hv["after"], hv["before"])]
        se = statistics.stdev(diff) / math.sqrt(len(diff)) if len(diff) > 1 else float("nan")
        med_drop = statistics.median(hv["after"]) - statistics.median(hv["before"])
        faster = statistics.median(t["after"]) < statistics.median(t["before"])
        keep = faster and med_drop >= -se
        print(
            f"\nmedian HV before {statistics.median(hv['before']):.6g}, after {statistics.median(hv['after']):.6g} "
            f"(after - before {med_drop:.4g}; SE of paired differences {se:.4g}, mean paired difference "
            f"{statistics.fmean(diff):.4g}); median s/iter before {statistics.median(t['before']):.3g}, after "
            f"{statistics.median(t['after']):.3g} (ratio {statistics.median(t['after']) / statistics.median(t['before']):.2f})"
            f" -> rule {'met: keep' if keep else 'not met'}"
        )


def main() -> None:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--problems", default="branincurrin,dtlz1")
    r.add_argument("--seeds", default="10-19")
    r.add_argument("--store", default=str(STORE))
    t = sub.add_parser("table")
    t.add_argument("--store", nargs="+", default=[str(STORE)])
    args = p.parse_args()
    {"run": cmd_run, "table": cmd_table}[args.cmd](args)


if __name__ == "__main__":
    main()
