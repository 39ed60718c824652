"""Torch intra-op threads on a quiet and on a busy machine: what the default thread policy rests on.

Two workloads, each with 1 and 2 torch threads, each on a quiet machine and with one competing
CPU-bound process (a spinning Python loop in another process), all in one run and interleaved
(the conditions' order rotates every repeat), so a drift of the machine's speed hits every
column alike:

* ``gp loop``: ``bnnbo.optimize("hartmann6", "gp")`` with 10 initial points and ``--gp-iters``
  model-based iterations (default acquisition), seconds per run;
* ``hmc fit``: one HMC BNN fit (the default settings, or ``--hmc-preset paper:hartmann``) on
  ``--hmc-n`` Sobol points of Hartmann6, seconds per fit.

``--demo`` adds ``bnnbo demo`` (a fresh process, its default workers and threads) quiet and busy.

    python benchmarks/threads.py [--repeats 5] [--gp-iters 10] [--hmc-n 100] [--demo]
    python benchmarks/threads.py --tiny     # a smoke test of the script, not a measurement

It prints one table: median seconds per condition, busy / quiet, and 2 threads / 1 thread.
The machine should be otherwise idle for the "quiet" columns to mean quiet: the load average is
printed before and after.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager

import torch


def _spin() -> None:  # the competing process: one core, busy for as long as it lives
    while True:
        pass


@contextmanager
def competing(busy: bool):
    if not busy:
        yield
        return
    proc = multiprocessing.get_context("spawn").Process(target=_spin, daemon=True)
    proc.start()
    time.sleep(0.3)  # started and spinning
    try:
        yield
    finally:
        proc.terminate()
        proc.join()


def gp_loop(args, seed: int) -> None:
    import bnnbo

    bnnbo.optimize("hartmann6", "gp", budget=10 + args.gp_iters, n_init=10, q=1, seed=seed)


def hmc_fit(args, seed: int) -> None:
    from bnnbo.problems import get_problem
    from bnnbo.surrogates import get_surrogate

    problem = get_problem("hartmann6")
    X = problem.space.sobol(args.hmc_n, seed=seed)
    Y = problem.evaluate(X)
    settings = dict(TINY_HMC) if args.tiny else {}
    if args.hmc_preset:
        settings["preset"] = args.hmc_preset
    get_surrogate("hmc", **settings).fit(problem.space.to_unit(X), Y, seed=seed)


TINY_HMC = {"widths": [16], "pretrain_steps": 20, "n_burn_in": 10, "n_samples": 10}


def demo(args, seed: int) -> None:
    """The whole demo in a fresh process, with its own defaults (workers and thread policy)."""
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "bnnbo.cli", "demo", "--db", os.path.join(tmp, "d.db"), "--quiet"],
            cwd=tmp,
            check=True,
            stdout=subprocess.DEVNULL,
        )


def measure(fn, args, seed: int, threads: int | None, busy: bool) -> float:
    if threads is not None:
        torch.set_num_threads(threads)
    with competing(busy):
        t0 = time.perf_counter()
        fn(args, seed)
        return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--gp-iters", type=int, default=10)
    ap.add_argument("--hmc-n", type=int, default=100)
    ap.add_argument("--hmc-preset", default=None, help="e.g. paper:hartmann (the study's sampler)")
    ap.add_argument("--demo", action="store_true", help="also time `bnnbo demo`, quiet and busy")
    ap.add_argument("--tiny", action="store_true", help="tiny budgets: checks the script, measures nothing")
    args = ap.parse_args()
    if args.tiny:
        args.repeats, args.gp_iters, args.hmc_n = 1, 1, 20

    workloads = {"gp loop": gp_loop, "hmc fit": hmc_fit}
    conditions = [(name, threads, busy) for name in workloads for threads in (1, 2) for busy in (False, True)]
    if args.demo:
        conditions += [("demo", None, False), ("demo", None, True)]
        workloads["demo"] = demo
    load0 = os.getloadavg()
    print(f"{os.cpu_count()} cores, torch {torch.__version__}, load average {load0[0]:.2f} before", flush=True)
    for name in ("gp loop", "hmc fit"):  # warm-up: imports and first-call costs out of the figures
        measure(workloads[name], args, 0, 1, False)
    times: dict[tuple, list[float]] = {c: [] for c in conditions}
    for rep in range(args.repeats):
        shift = rep % len(conditions)
        for cond in conditions[shift:] + conditions[:shift]:
            name, threads, busy = cond
            times[cond].append(measure(workloads[name], args, rep + 1, threads, busy))
            print(
                f"  repeat {rep + 1}: {name}, {threads or 'default'} thread(s), "
                f"{'busy' if busy else 'quiet'}: {times[cond][-1]:.2f} s",
                flush=True,
            )
    med = {c: statistics.median(v) for c, v in times.items()}
    print(
        f"\nmedian seconds over {args.repeats} repeat(s); busy = one competing CPU-bound process; "
        f"load average {os.getloadavg()[0]:.2f} after\n"
    )
    print("| workload | threads | quiet s | busy s | busy / quiet | 2 threads / 1 thread (quiet, busy) |")
    print("|---|---:|---:|---:|---:|---:|")
    for name in workloads:
        for threads in (1, 2) if name != "demo" else (None,):
            q, b = med[(name, threads, False)], med[(name, threads, True)]
            if threads == 2:
                vs = f"{q / med[(name, 1, False)]:.2f}x, {b / med[(name, 1, True)]:.2f}x"
            else:
                vs = "-"
            print(f"| {name} | {threads or 'default'} | {q:.2f} | {b:.2f} | {b / q:.2f}x | {vs} |")


if __name__ == "__main__":
    main()
