"""Measure the costs `bnnbo plan` / `bnnbo run --plan` estimate from, and rewrite the table.

For every problem x surrogate cell of the given study files (seed 0) it times the runner's own
unit of work, ``bnnbo.runner.run_step``: the first model step after the initial design (cold:
no surrogate state) and the next one (warm-started), and the same pair near the end of the
budget (from a Sobol design of that size), recording fit, acquisition and whole-step seconds.
Each surrogate first takes one unrecorded step (a process's first calls pay one-off setup,
which a study pays once per process, not per run). Each problem's seconds per evaluation is the median of single-point calls after a first one.
Entries with the same key are replaced, others kept; the file is rewritten in one go after each
cell, so a stopped measurement keeps the cells it finished.

    python benchmarks/plan_costs.py configs/demo.toml [configs/paper/hartmann.toml ...]
        [--out bnnbo/data/costs.json] [--threads 1] [--only-low] [--no-warmup] [--surrogates gp,ibnn]

``--from-store DB`` measures nothing: it takes each cell's costs from the model steps its runs
already stored in DB (their recorded fit and acquisition seconds, under the load they ran
with), for every cell of the given studies that has such runs under today's settings; the
problems' evaluation costs are still timed.

    python benchmarks/plan_costs.py --from-store campaign.db configs/paper/branin.toml

Run it on the machine the estimates are for, as quiet as you can make it (the estimate is only
as good as these timings); single-threaded by default, as `bnnbo demo`'s workers run.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import statistics
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from bnnbo.executors import set_threads
from bnnbo.plan import CostTable, matching_runs, problem_key, run_work, stored_costs, stored_runs
from bnnbo.problems import get_problem
from bnnbo.runner import run_step
from bnnbo.study import load_study

DEFAULT_OUT = Path(__file__).resolve().parents[1] / "bnnbo" / "data" / "costs.json"


def eval_cost(problem, repeats: int = 3) -> float:
    X = problem.space.sobol(repeats + 1, seed=1)
    problem.evaluate(X[:1])  # one-off work (compilation, worker pools) is not per evaluation
    times = []
    for x in X[1:]:
        t = time.perf_counter()
        problem.evaluate(x.unsqueeze(0))
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def timed_step(spec, history, state):
    t = time.perf_counter()
    out = run_step(spec, history, state, threads=None)
    total = time.perf_counter() - t
    if out.error:
        raise RuntimeError(f"{spec.problem} / {spec.surrogate}: {out.error}")
    return out, total


def measure_pair(spec, n: int, per_eval: float) -> list[dict]:
    """Cold then warm model step after a Sobol design of ``n`` points."""
    s = dataclasses.replace(spec, n_init=n, iterations=2)
    init, _ = timed_step(s, [], None)
    points, history, state = [], list(init.evaluations), None
    for cold in (True, False):
        out, total = timed_step(s, history, state)
        e = out.evaluations[0]
        points.append(
            {
                "n": len(history),
                "cold": cold,
                "fit": e["fit_seconds"],
                "acq": e["acq_seconds"],
                "step": total,
                "overhead": max(total - e["fit_seconds"] - e["acq_seconds"] - len(out.evaluations) * per_eval, 0.0),
            }
        )
        history += out.evaluations
        state = out.state
    return points


def measure_cell(spec, dim: int, objectives: int, per_eval: float, only_low: bool) -> dict:
    sizes = run_work(spec).fit_sizes
    points = measure_pair(spec, sizes[0], per_eval) if sizes else []
    if len(sizes) >= 4 and not only_low:
        points += measure_pair(spec, sizes[-2], per_eval)
    overhead = statistics.median(p.pop("overhead") for p in points) if points else 0.0
    return {
        **CostTable.cell_key(spec, dim, objectives),
        "label": f"{spec.study}/{spec.problem}/{spec.surrogate}",
        "points": points,
        "overhead": overhead,
        "measured_at": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }


def save(out: Path, table: dict) -> None:
    """Rewrite the table in one go (a stopped measurement keeps every cell measured so far)."""
    tmp = out.with_suffix(".tmp")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp.write_text(json.dumps(table, indent=1, sort_keys=True) + "\n")
    tmp.replace(out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("studies", nargs="+", help="study files whose cells to measure")
    p.add_argument("--out", default=str(DEFAULT_OUT), help="cost table to update (default: the package's)")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1, as a demo worker)")
    p.add_argument("--only-low", action="store_true", help="measure only after the initial design")
    p.add_argument("--surrogates", default=None, help="comma-separated surrogate labels (default: all)")
    p.add_argument(
        "--no-warmup",
        action="store_true",
        help="skip each surrogate's unrecorded first step (for slow fits: the first cell then "
        "includes the process's one-off setup)",
    )
    p.add_argument(
        "--from-store",
        default=None,
        metavar="DB",
        help="take the cells' costs from the runs stored in DB (SQLite file or URL) instead of measuring",
    )
    args = p.parse_args(argv)
    set_threads(args.threads)
    out = Path(args.out)
    table = json.loads(out.read_text()) if out.exists() else {}
    cells, evals = table.get("cells", []), table.get("evaluations", {})
    wanted = set(args.surrogates.split(",")) if args.surrogates else None
    command = " ".join(["python benchmarks/plan_costs.py", *(argv if argv is not None else sys.argv[1:])])
    runs = table.get("runs", [])  # every refresh, oldest first: cells keep the newest measurement
    runs.append(
        {
            "command": command,
            "measured_at": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "machine": f"{platform.machine()} {platform.processor() or ''}".strip() + f", threads {args.threads}",
            "load_average": round(os.getloadavg()[0], 1),
        }
    )  # a loaded machine inflates every cost
    table.update(
        {
            "about": "Measured by benchmarks/plan_costs.py; read by bnnbo.plan (see its docstring for the model).",
            "runs": runs,
            "cells": cells,
            "evaluations": evals,
        }
    )
    warmed: set[str] = set()
    for path in args.studies:
        study = load_study(path)
        seen = set()
        own: dict = {}
        if args.from_store:
            specs = study.cells()
            matching = matching_runs(stored_runs(args.from_store, study), specs)
            own = stored_costs(args.from_store, matching) if matching else {}
            if not own:
                print(f"{path}: no stored model steps under today's settings in {args.from_store}", flush=True)
        for spec in study.cells():
            if spec.seed != study.seeds[0] or (wanted and spec.surrogate not in wanted):
                continue
            problem = get_problem(spec.problem_name, **spec.problem_options)
            pk = problem_key(spec.problem_name, spec.problem_options)
            if pk not in seen:
                evals[pk] = eval_cost(problem)
                seen.add(pk)
            if args.from_store:
                if (spec.problem, spec.surrogate) not in own:
                    continue
                entry = {
                    **CostTable.cell_key(spec, problem.space.dim, problem.num_objectives),
                    "label": f"{spec.study}/{spec.problem}/{spec.surrogate}",
                    **own[(spec.problem, spec.surrogate)],
                    "source": f"stored runs ({args.from_store})",
                    "measured_at": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                }
            else:
                if spec.surrogate_name not in warmed and not args.no_warmup:  # first calls pay one-off setup
                    measure_pair(spec, spec.n_init, evals[pk])
                    warmed.add(spec.surrogate_name)
                entry = measure_cell(spec, problem.space.dim, problem.num_objectives, evals[pk], args.only_low)
            key = {k: entry[k] for k in CostTable.cell_key(spec, 0, 0)}
            cells = [c for c in cells if any(c.get(k) != v for k, v in key.items())] + [entry]
            table["cells"] = cells
            save(out, table)
            pts = ", ".join(
                f"n={q['n']}{' cold' if q['cold'] else ''}: fit {q['fit']:.3g} s acq {q['acq']:.3g} s"
                for q in entry["points"][: 4 if args.from_store else None]
            ) + (f" ... ({len(entry['points'])} steps)" if args.from_store else "")
            print(f"{entry['label']}: overhead {entry['overhead']:.3g} s; {pts}", flush=True)
    save(out, table)
    print(f"wrote {out} ({len(cells)} cells, {len(evals)} problems)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
