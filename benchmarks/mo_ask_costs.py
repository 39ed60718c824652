"""Where one multi-objective ask spends its time: fit, acquisition set-up, acquisition search.

Runs the default loop on a problem to ``n`` evaluations (seed 0), then times the next ask at
that state for each loop (the same told points): "now" (issue 14's default: warm-started Matern GPs,
analytic LogEHVI, the "analytic" preset) and "before" (BoTorch's GP fitted cold, qLogNEHVI, the
"default" preset). The warm start of "now" comes from the state after the previous ask. Torch
threads 1; median of ``--repeats`` (alternating the loops).

    python benchmarks/mo_ask_costs.py --problems branincurrin oil --n 30 --repeats 3
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from bnnbo import Optimizer, get_problem
from bnnbo.acquisition import build_acquisition, get_preset, optimize_acquisition
from bnnbo.optimizer import _is_matern_gp, _pareto_starts, derive_seed

LOOPS = {"now": {}, "before": {"noise": "learned", "warm_start": False, "kernel": "botorch"}}
N_INIT = {"branincurrin": 10, "oil": 20}


def one_ask(opt: Optimizer) -> dict[str, float]:
    """The timed parts of ``Optimizer.ask`` (same streams as the loop's ask)."""
    n = opt.n_told
    step_seed = derive_seed(opt.seed, n)
    X_unit = opt.space.to_unit(opt.X, opt.encoding)
    Y_max = opt.to_max(opt.Y)
    with torch.random.fork_rng():
        torch.manual_seed(step_seed)
        t0 = time.perf_counter()
        model = opt._fit(X_unit, Y_max, step_seed)
        t1 = time.perf_counter()
        ref = opt._ref_point_max(Y_max)
        exact = _is_matern_gp(opt.surrogate)
        acq = build_acquisition(model, X_unit, Y_max, mode=opt.mode, ref_point=ref, seed=step_seed, q=1, exact_gp=exact)
        t2 = time.perf_counter()
        preset = get_preset(opt._default_preset(1))
        starts = None
        if preset.start_at_incumbent and opt.space.is_continuous:
            starts = _pareto_starts(X_unit, Y_max, preset.num_restarts // 2)
        calls = [0]
        forward = acq.forward

        def counted(X):
            calls[0] += 1
            return forward(X)

        acq.forward = counted  # type: ignore[method-assign]
        optimize_acquisition(acq, opt.space, 1, preset, "proper", incumbent=starts)
        t3 = time.perf_counter()
    return {"fit": t1 - t0, "setup": t2 - t1, "search": t3 - t2, "calls": calls[0], "acq": type(acq).__name__}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--problems", nargs="+", default=["branincurrin", "oil"])
    ap.add_argument("--n", type=int, default=30)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(1)
    print("| problem | loop | acquisition | fit s | set-up s | search s | acquisition calls |")
    print("|---|---|---|---:|---:|---:|---:|")
    for name in args.problems:
        p = get_problem(name)
        run = Optimizer.for_problem(p, seed=0, n_init=N_INIT.get(name, 10))
        while run.n_told < args.n:
            X = run.ask()
            run.tell(X, p.evaluate(X))
        state = run.surrogate_state  # the warm start the next ask gets
        out: dict[str, list[dict]] = {k: [] for k in LOOPS}
        for r in range(args.repeats):
            for label in list(LOOPS) if r % 2 == 0 else list(LOOPS)[::-1]:
                opt = Optimizer.for_problem(p, seed=0, n_init=run.n_init, surrogate_settings=LOOPS[label] or None)
                opt.restore(run.history, state if label == "now" else None)
                out[label].append(one_ask(opt))
        for label, rows in out.items():
            med = {k: statistics.median(r[k] for r in rows) for k in ("fit", "setup", "search", "calls")}
            print(
                f"| {name} (n = {run.n_told}) | {label} | {rows[0]['acq']} | {med['fit']:.3f} | "
                f"{med['setup']:.3f} | {med['search']:.3f} | {med['calls']:.0f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
