"""Is ``auto`` at least as good as ``gp`` in median on the shipped problems?

Runs BO with each arm on each problem for several seeds (paired: a seed gives every arm the same
initial design), in parallel processes of one thread each, and prints per problem the median
final result of each arm and auto's paired wins / ties / losses against gp.

Result: best value found (one objective) or dominated hypervolume (several); higher is better.
Each finished run is appended to ``--out`` (JSON lines) at once, and runs already there are
skipped, so an interrupted benchmark resumes.

    python benchmarks/auto_vs_gp.py --seeds 5 --workers 16 --out auto_vs_gp.jsonl
    python benchmarks/auto_vs_gp.py --summary auto_vs_gp.jsonl     # table only
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor, as_completed

PROBLEMS = ("branin", "hartmann6", "ackley", "branincurrin", "dtlz1", "dtlz5")
ARMS = {
    "gp": ("gp", {}),
    "auto": ("auto", {}),
    "auto-kfold": ("auto", {"holdout": "kfold"}),
}


def run_one(problem: str, arm: str, seed: int, iterations: int | None) -> dict:
    import warnings

    import torch

    warnings.filterwarnings("ignore")
    torch.set_num_threads(1)
    from bnnbo import get_problem, optimize

    pb = get_problem(problem)
    b = pb.paper_budget
    iters = b["iterations"] if iterations is None else min(iterations, b["iterations"])
    name, settings = ARMS[arm]
    t0 = time.perf_counter()
    r = optimize(pb, name, budget=b["n_init"] + b["q"] * iters, seed=seed, surrogate_settings=settings)
    choices = Counter(d.get("choice", name) for d in r.diagnostics)
    return {
        "problem": problem,
        "arm": arm,
        "seed": seed,
        "iterations": iters,
        "result": float(r.trace[-1]),
        "seconds": time.perf_counter() - t0,
        "fit_seconds": sum(r.fit_seconds),
        "choices": dict(choices),
    }


def summary(rows: list[dict]) -> str:
    """Markdown: per problem, median result per arm and auto's paired record against gp."""
    arms = [a for a in ARMS if any(r["arm"] == a for r in rows)]
    head = [
        "problem",
        "seeds",
        *(f"median {a}" for a in arms),
        *(f"{a} vs gp (W/T/L)" for a in arms if a != "gp"),
        "auto choices",
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for pb in PROBLEMS:
        by = {a: {r["seed"]: r for r in rows if r["problem"] == pb and r["arm"] == a} for a in arms}
        seeds = sorted(set.intersection(*(set(v) for v in by.values()))) if by else []
        if not seeds:
            continue
        med = [f"{statistics.median(by[a][s]['result'] for s in seeds):.4g}" for a in arms]
        wtl = [_record(by[a], by["gp"], seeds) for a in arms if a != "gp"]
        picks = Counter()
        for a in arms:
            if a != "gp":
                for s in seeds:
                    picks.update(by[a][s]["choices"])
        lines.append(f"| {pb} | {len(seeds)} | " + " | ".join(med + wtl) + f" | {dict(picks)} |")
    return "\n".join(lines)


def _record(arm: dict, gp: dict, seeds: list[int]) -> str:
    tol = 1e-9
    d = [arm[s]["result"] - gp[s]["result"] for s in seeds]
    return f"{sum(x > tol for x in d)}/{sum(abs(x) <= tol for x in d)}/{sum(x < -tol for x in d)}"


def _read(path: str) -> list[dict]:
    with open(path) as fh:
        return [json.loads(line) for line in fh]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--problems", default=",".join(PROBLEMS))
    p.add_argument("--arms", default="gp,auto")
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--iterations", type=int, default=None, help="cap on BO iterations (default: the study's)")
    p.add_argument("--workers", type=int, default=os.cpu_count())
    p.add_argument("--out", default="auto_vs_gp.jsonl")
    p.add_argument("--summary", default=None, metavar="JSONL", help="only print the table of a results file")
    args = p.parse_args()
    if args.summary:
        print(summary(_read(args.summary)))
        return
    done = set()
    if os.path.exists(args.out):
        done = {(r["problem"], r["arm"], r["seed"]) for r in _read(args.out)}
    # seed-major: if the run is cut short, every problem still has complete, paired seeds
    jobs = [
        (pb, arm, s)
        for s in range(args.seeds)
        for pb in args.problems.split(",")
        for arm in args.arms.split(",")
        if (pb, arm, s) not in done
    ]
    with ProcessPoolExecutor(args.workers) as pool, open(args.out, "a") as out:
        futures = [pool.submit(run_one, pb, arm, s, args.iterations) for pb, arm, s in jobs]
        for f in as_completed(futures):
            row = f.result()
            out.write(json.dumps(row) + "\n")
            out.flush()
            print(
                f"{row['problem']:>12} {row['arm']:>10} seed {row['seed']}: {row['result']:.5g} "
                f"({row['seconds']:.0f} s) {row['choices']}",
                flush=True,
            )
    print(summary(_read(args.out)))


if __name__ == "__main__":
    main()
