"""Did the q = 1 default's changes make the batch (q > 1) and multi-objective defaults worse?

Batches keep their MC acquisition (qLogNEI / qLogNEHVI) and the "default" optimiser preset;
several objectives at q = 1 now use the q = 1 GP (Matern, low noise, warm starts) under analytic
LogEHVI with the "analytic" preset (issue 14). This runs each case with several arms of the
public API, interleaved per seed (the arms' order reversed on odd seeds), and prints the final
outcome (hypervolume for several objectives, regret for one) and wall seconds per run:

* "gp now": today's default (no settings).
* "gp before": BoTorch's GP, noise prior, cold fits; for several objectives at q = 1 that also
  brings back qLogNEHVI and the "default" preset, i.e. the whole previous loop.
* "gp qlognehvi": the same q = 1 GP as "gp now" (its settings spelled out, since
  ``acquisition="mc"`` alone would bring back the cold BoTorch GP) under sampled qLogNEHVI and
  the "mc" mode's "default" preset (what ``auto`` is served with several objectives).
* "gp qlognehvi analytic": as "gp qlognehvi" with the "analytic" preset (2048 raw samples, 10
  restarts, starts at Pareto-optimal points), to tell the acquisition from its optimiser.
* "gp now default preset": today's default (LogEHVI) with the "default" preset (256 raw samples,
  8 restarts, no Pareto-optimal starts), the other half of that comparison.

With ``--save`` every finished run is written at once to a JSON file (per-seed results), so
parallel processes (e.g. one per case) can be merged with ``--merge``; the summary then adds,
per case, a paired one-sided Wilcoxon test of each arm against the first arm (is it higher for
hypervolume, lower for regret) and its wins, and checks "gp now" against the ``gp`` runs of
benchmarks/results/auto_suite.jsonl with the same problem, seed, q, n_init and budget, and "gp
qlognehvi" against its ``auto`` runs (auto is served qLogNEHVI and the "default" preset with
several objectives, so where it chose gp at every iteration the two runs are the same loop).
Time ratios are taken only between runs of one process (one saved file), which ran side by side.

    python benchmarks/default_recheck.py [--seeds 3] [--cases 0 1 2]
    python benchmarks/default_recheck.py --cases 3 --arms "gp now" "gp qlognehvi" --seeds 10 --save a.json
    python benchmarks/default_recheck.py --merge a.json b.json
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # before numpy / torch are imported

import argparse
import json
import math
import statistics
import sys
import time
import warnings
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bnnbo import optimize, version  # noqa: E402
from bnnbo.problems import get_problem  # noqa: E402

CASES = [  # (problem, q, n_init, budget)
    ("branincurrin", 1, 10, 30),
    ("branincurrin", 4, 10, 30),
    ("hartmann6", 4, 10, 34),
    # auto_suite's multi-objective problems and budget (benchmarks/auto_suite.py)
    ("dtlz1", 1, 10, 40),
    ("branincurrin", 1, 10, 40),
    ("dtlz5", 1, 10, 40),
]
#: the q = 1 default GP's settings spelled out (None in GPSettings means these)
Q1_GP = {"kernel": "matern", "noise": "low", "warm_start": True}
ARMS: dict[str, dict] = {
    "gp now": {},
    "gp before": {"surrogate_settings": {"noise": "learned", "warm_start": False, "kernel": "botorch"}},
    "gp qlognehvi": {"acquisition": "mc", "surrogate_settings": Q1_GP},
    "gp qlognehvi analytic": {"acquisition": "mc", "surrogate_settings": Q1_GP, "acq_optimizer": "analytic"},
    "gp now default preset": {"acq_optimizer": "default"},
}
AUTO_SUITE = ROOT / "benchmarks" / "results" / "auto_suite.jsonl"


def run_one(name: str, q: int, n_init: int, budget: int, arm: str, seed: int) -> dict:
    problem = get_problem(name)
    row = {
        "problem": name,
        "q": q,
        "n_init": n_init,
        "budget": budget,
        "arm": arm,
        "seed": seed,
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "loadavg": os.getloadavg()[0],
        "torch_threads": torch.get_num_threads(),
        "bnnbo_commit": version.code_commit("benchmarks/default_recheck.py"),
    }
    t = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = optimize(problem, "gp", budget=budget, seed=seed, q=q, n_init=n_init, **ARMS[arm])
    seconds = time.perf_counter() - t
    several = problem.num_objectives > 1
    row.update(
        what="hypervolume" if several else "regret",
        value=float(r.trace[-1]) if several else problem.optimal_value - r.best_value,
        seconds=seconds,
        fit_seconds=sum(r.fit_seconds),
        acq_seconds=sum(r.acq_seconds),
    )
    return row


def _mean_se(values: list[float]) -> str:
    mean = statistics.fmean(values)
    se = statistics.stdev(values) / math.sqrt(len(values)) if len(values) > 1 else float("nan")
    return f"{mean:.6g} +- {se:.3g}"


#: arms that are, loop for loop, a method of benchmarks/auto_suite.py
STORED_AS = {"gp now": "gp", "gp qlognehvi": "auto"}


def _auto_suite() -> dict[tuple, float]:
    """auto_suite.jsonl's final outcomes by (method, problem, q, n_init, budget, seed)."""
    if not AUTO_SUITE.exists():
        return {}
    out = {}
    for line in AUTO_SUITE.read_text().splitlines():
        try:
            r = json.loads(line)
        except json.JSONDecodeError:
            continue
        if r.get("method") in STORED_AS.values() and r.get("status") == "ok":
            out[(r["method"], r["problem"], r["q"], r["n_init"], r["budget"], r["seed"])] = r["final"]
    return out


def summarise(rows: list[dict]) -> None:
    """Per case: each arm's per-seed outcome, median, mean +- SE and median seconds per run; each
    later arm against the first on the seeds both ran (paired one-sided Wilcoxon, wins)."""
    from scipy.stats import wilcoxon

    stored = _auto_suite()
    cases = sorted({(r["problem"], r["q"], r["n_init"], r["budget"]) for r in rows}, key=str)
    for case in cases:
        name, q, n_init, budget = case
        here = [r for r in rows if (r["problem"], r["q"], r["n_init"], r["budget"]) == case]
        what = here[0]["what"]
        arms = [a for a in ARMS if any(r["arm"] == a for r in here)]
        by = {a: {r["seed"]: r for r in here if r["arm"] == a} for a in arms}
        for r in here:  # the loop is deterministic: a rerun must reach the same outcome
            if r["value"] != by[r["arm"]][r["seed"]]["value"]:
                print(
                    f"warning: {r['arm']} seed {r['seed']} reached {r['value']} and {by[r['arm']][r['seed']]['value']}"
                )
        sec_of = {(r.get("file"), r["arm"], r["seed"]): r["seconds"] for r in here}
        print(f"\n{name}, q = {q}, {n_init} initial points, budget {budget}: final {what}")
        print("| arm | seeds | per-seed (seed order) | median | mean +- SE | median s / run |")
        print("|---|---:|---|---:|---:|---:|")
        for a in arms:
            seeds = sorted(by[a])
            vals = [by[a][s]["value"] for s in seeds]
            secs = [by[a][s]["seconds"] for s in seeds]
            print(
                f"| {a} | {len(seeds)} ({seeds[0]}-{seeds[-1]}) | {', '.join(f'{v:.6g}' for v in vals)} "
                f"| {statistics.median(vals):.6g} | {_mean_se(vals)} | {statistics.median(secs):.1f} |"
            )
        higher = what == "hypervolume"
        base = arms[0]
        for a in arms[1:]:
            common = sorted(set(by[a]) & set(by[base]))
            if not common:
                continue
            diff = [by[a][s]["value"] - by[base][s]["value"] for s in common]
            better = [d > 0 if higher else d < 0 for d in diff]
            line = (
                f"{a} - {base} ({len(common)} paired seeds): median {statistics.median(diff):.4g}, "
                f"mean {_mean_se(diff)}; {a} better on {sum(better)} of {len(common)}"
            )
            if len(common) > 1 and any(d != 0 for d in diff):
                p = wilcoxon(diff, alternative="greater" if higher else "less").pvalue
                line += f"; one-sided Wilcoxon ({a} {'higher' if higher else 'lower'}): p = {p:.3g}"
            ratios = [
                sec_of[f, a, s] / sec_of[f, base, s] for f, arm, s in sec_of if arm == a and (f, base, s) in sec_of
            ]
            if ratios:
                line += f"; median time ratio {a} / {base} ({len(ratios)} side-by-side seeds): {statistics.median(ratios):.2f}"
            print(line)
        for a, method in STORED_AS.items():
            key = (method, name, q, n_init, budget)
            pairs = [(v["value"], stored[(*key, s)]) for s, v in sorted(by.get(a, {}).items()) if (*key, s) in stored]
            if pairs:
                same = sum(math.isclose(v, w, rel_tol=1e-9, abs_tol=0.0) for v, w in pairs)
                worst = max(abs(v - w) / abs(w) for v, w in pairs)
                print(
                    f"{a} against auto_suite.jsonl's {method} runs: {same} of {len(pairs)} seeds equal "
                    f"(rel. 1e-9); largest relative difference {worst:.3g}"
                )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--first-seed", type=int, default=0)
    ap.add_argument(
        "--cases",
        type=int,
        nargs="+",
        default=[0, 1, 2],
        help="indices into CASES (to run them as parallel processes)",
    )
    ap.add_argument("--arms", nargs="+", default=["gp now", "gp before"], choices=list(ARMS))
    ap.add_argument("--save", type=Path, help="write every finished run to this JSON file")
    ap.add_argument("--merge", type=Path, nargs="+", help="only summarise these saved files")
    args = ap.parse_args()
    if args.merge:
        summarise([{**r, "file": str(p)} for p in args.merge for r in json.loads(p.read_text())])
        return
    torch.set_num_threads(1)
    rows: list[dict] = []
    for name, q, n_init, budget in [CASES[i] for i in args.cases]:
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            order = args.arms if seed % 2 == 0 else args.arms[::-1]
            for arm in order:
                row = run_one(name, q, n_init, budget, arm, seed)
                rows.append(row)
                print(
                    f"{name} q={q} seed {seed} {arm}: {row['what']} {row['value']:.6g}, {row['seconds']:.1f} s",
                    flush=True,
                )
                if args.save:
                    args.save.write_text(json.dumps(rows, indent=1))
    summarise(rows)


if __name__ == "__main__":
    main()
