"""The first HMC fit in a fresh process against the second, with the Adam pre-training run by
``torch.optim.Adam(fused=True)`` (as before) or by bnnbo's ``FusedAdam`` (the same kernel
without ``torch.optim``, whose first use imports ``torch._dynamo`` and sympy).

Each repeat starts one fresh process per variant, alternating, and times in it: the imports,
the first fit and the second fit (the study's Hartmann settings: n = 100 Sobol points of
Hartmann6, the default HMC surrogate, one torch thread).

    python benchmarks/first_fit.py [--repeats 3] [--quick]

``--quick`` uses a tiny network and few steps: the one-time costs stay, the fit shrinks.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys

CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
import torch
torch.set_num_threads(1)
from bnnbo.problems import get_problem
from bnnbo.surrogates import get_surrogate
from bnnbo.surrogates.networks import bnn_common
t1 = time.perf_counter()
if sys.argv[1] == "torch.optim":
    class TorchAdam:
        def __init__(self, param, lr):
            self.param, self.opt = param, torch.optim.Adam([param], lr=lr, fused=True)
        def step(self, grad):
            self.param.grad = grad
            self.opt.step()
    bnn_common.FusedAdam = TorchAdam
settings = json.loads(sys.argv[2])
p = get_problem("hartmann6")
X = p.space.sobol(100, seed=0)
U, Y = p.space.to_unit(X), p.evaluate(X)
out = {"imports": t1 - t0}
for i in range(2):
    t = time.perf_counter()
    get_surrogate("hmc", **settings).fit(U, Y, seed=i)
    out[f"fit{i + 1}"] = time.perf_counter() - t
out["dynamo imported"] = "torch._dynamo" in sys.modules
print(json.dumps(out))
"""

QUICK = {"widths": [16], "pretrain_steps": 50, "n_burn_in": 20, "n_samples": 20}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    settings = json.dumps(QUICK if args.quick else {})
    variants = ["torch.optim", "FusedAdam"]
    runs: dict[str, list[dict]] = {v: [] for v in variants}
    for rep in range(args.repeats):
        for v in variants if rep % 2 == 0 else variants[::-1]:
            out = subprocess.run(
                [sys.executable, "-c", CHILD, v, settings], check=True, capture_output=True, text=True
            ).stdout
            runs[v].append(json.loads(out.strip().splitlines()[-1]))
            print(f"  repeat {rep + 1}, {v}: {runs[v][-1]}", flush=True)
    print(f"\nmedians over {args.repeats} fresh process(es) per variant, seconds\n")
    print("| Adam pre-training | imports | first fit | second fit | first - second | torch._dynamo imported |")
    print("|---|---:|---:|---:|---:|---|")
    for v in variants:
        med = {k: statistics.median(r[k] for r in runs[v]) for k in ("imports", "fit1", "fit2")}
        extra = statistics.median(r["fit1"] - r["fit2"] for r in runs[v])
        dyn = {r["dynamo imported"] for r in runs[v]}
        print(
            f"| {v} | {med['imports']:.2f} | {med['fit1']:.2f} | {med['fit2']:.2f} | {extra:.2f} | "
            f"{'yes' if dyn == {True} else 'no' if dyn == {False} else 'mixed'} |"
        )


if __name__ == "__main__":
    main()
