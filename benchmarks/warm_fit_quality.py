"""Held-out quality and seconds of a warm-started fit, per settings variant, as in a BO run: the
surrogate is first fitted (defaults) on the first ``n - q`` Sobol points, then each variant fits
all ``n`` from that state; scores (``bnnbo.surrogates.scoring``: NLL, RMSE in training standard
deviations) on 500 other Sobol points. Variants run side by side in one process. ``--cold`` (or
``n - q < 2``) fits every variant from scratch, as a run's first fit.

    python benchmarks/warm_fit_quality.py ensemble "warm_start=False" "warm_steps=100" "warm_steps=200"
    python benchmarks/warm_fit_quality.py hmc "warm_samples=None" "warm_samples=250" "warm_burn_in=50"
    python benchmarks/warm_fit_quality.py hmc "" "pretrain_steps=250" --n 10 --cold
"""

from __future__ import annotations

import argparse
import ast
import statistics
import time

import torch

from bnnbo.problems import get_problem
from bnnbo.surrogates import get_surrogate
from bnnbo.surrogates.scoring import score


def settings(text: str) -> dict:
    """``"a=1,b=None"`` -> ``{"a": 1, "b": None}`` (Python literals only)."""
    out = {}
    for part in filter(None, text.split(",")):
        key, _, value = part.partition("=")
        out[key.strip()] = ast.literal_eval(value.strip())
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("surrogate")
    ap.add_argument("variants", nargs="+", help="settings overrides, e.g. warm_steps=200 ('' = defaults)")
    ap.add_argument("--problem", default="hartmann6")
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--q", type=int, default=10)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--cold", action="store_true", help="no warm start: fit from scratch")
    args = ap.parse_args()
    torch.set_num_threads(1)
    problem = get_problem(args.problem)
    results = {v: [] for v in args.variants}
    for seed in range(args.seeds):
        X = problem.space.sobol(args.n, seed=seed)
        U, Y = problem.space.to_unit(X), problem.evaluate(X)
        Xt = problem.space.sobol(500, seed=1000 + seed)
        Ut, Yt = problem.space.to_unit(Xt), problem.evaluate(Xt)
        cold = args.cold or args.n - args.q < 2
        if not cold:
            first = get_surrogate(args.surrogate)
            first.fit(U[: args.n - args.q], Y[: args.n - args.q], seed=seed + 1)
        for v in args.variants:
            sur = get_surrogate(args.surrogate, **settings(v))
            t = time.perf_counter()
            model = sur.fit(U, Y, seed=seed, state=None if cold else first.state_)
            seconds = time.perf_counter() - t
            sc = score(model, Ut, Yt, Y)
            results[v].append((sc["nll"][0], sc["rmse"][0], seconds))
            print(
                f"seed {seed} {v or 'defaults'}: nll {sc['nll'][0]:.3f} rmse {sc['rmse'][0]:.3f} {seconds:.1f} s",
                flush=True,
            )
    base = args.variants[0]
    start = "cold" if args.cold or args.n - args.q < 2 else f"warm from n - {args.q}"
    print(f"\n{args.surrogate} on {args.problem}, n = {args.n} ({start}), {args.seeds} seeds\n")
    print(f"| settings | NLL per seed | NLL median | RMSE median | fit s median | fit x {base or 'defaults'} |")
    print("|---|---|---:|---:|---:|---:|")
    for v, rs in results.items():
        ratio = statistics.median(r[2] / b[2] for r, b in zip(rs, results[base]))
        print(
            f"| {v or 'defaults'} | {', '.join(f'{r[0]:.3f}' for r in rs)} | {statistics.median(r[0] for r in rs):.3f} "
            f"| {statistics.median(r[1] for r in rs):.3f} | {statistics.median(r[2] for r in rs):.1f} | {ratio:.2f} |"
        )


if __name__ == "__main__":
    main()
