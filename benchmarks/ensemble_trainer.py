"""The ensemble's two trainers on the same cold fit: ``adam_map`` on all points with 0/1
weights (the reference, before issue 19's sixth round) and ``SubsetTrainer`` (each member on
its own points, preallocated buffers), with the reference run a second time on the points in
reverse order (the same arithmetic, summed in another order): how far float32 rounding alone
moves 1000 Adam steps' networks, next to how far the new trainer's are from the reference's.
Timed alternately in one process, torch on one thread.

    python benchmarks/ensemble_trainer.py --n 100 --seeds 3
    python benchmarks/ensemble_trainer.py --n 100 --seeds 1 --dtype float64 --steps 100
"""

from __future__ import annotations

import argparse
import time

import torch

from bnnbo.problems import get_problem
from bnnbo.surrogates.networks.bnn_common import FitData, adam_map, prepare
from bnnbo.surrogates.networks.ensemble import EnsembleSettings, SubsetTrainer, subset_mask
from bnnbo.surrogates.networks.mlp import MLPSpec


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--dtype", default="float32", help="the fits' dtype (the paper presets: float64)")
    ap.add_argument("--steps", type=int, help="Adam steps (default: the ensemble's train_steps)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    s = EnsembleSettings(dtype=args.dtype, train_steps=args.steps or EnsembleSettings().train_steps)
    problem = get_problem("hartmann6")
    spec = MLPSpec(problem.space.dim, s.widths, 1, s.activation)
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} thread(s); hartmann6, n = {args.n}, "
        f"ensemble defaults but {s.dtype}, {s.train_steps} steps"
    )
    print(
        "\n| seed | reference s | new s | new / reference | max abs weight diff: reversed, new "
        "| max abs mean diff (500 points): reversed, new | mean's range |"
    )
    print("|---:|---:|---:|---:|---|---|---|")
    for seed in range(args.seeds):
        X = problem.space.sobol(args.n, seed=seed)
        U, Y = problem.space.to_unit(X), problem.evaluate(X)
        test = problem.space.to_unit(problem.space.sobol(500, seed=seed + 100))
        data = prepare(U, Y, s.standardize_y, s.dtype)
        gen = torch.Generator().manual_seed(seed)
        theta = spec.init(s.n_members, gen, data.X.dtype)
        mask = subset_mask(s.n_members, args.n, s.train_prop, gen).to(data.X)
        fit = (s.noise_std**2, s.prior_var, s.train_steps, s.lr)
        seconds = {}

        def timed(name, fn):
            t = time.perf_counter()
            out = fn()
            seconds[name] = time.perf_counter() - t
            return out

        # the order alternates with the seed, against the machine's drift
        runs = [
            ("ref", lambda: adam_map(spec, theta, data, *fit, weights=mask)),
            ("new", lambda: SubsetTrainer(spec, data.X, data.Y, mask).run(theta, *fit)),
        ]
        thetas = {name: timed(name, fn) for name, fn in (runs if seed % 2 == 0 else runs[::-1])}
        flipped = FitData(data.X.flip(0), data.Y.flip(0), data.y_mean, data.y_std)
        thetas["rev"] = adam_map(spec, theta, flipped, *fit, weights=mask.flip(1))
        with torch.no_grad():
            mean = {k: spec.forward(v, test.to(v)).mean(0).squeeze(-1) for k, v in thetas.items()}
        w = {k: float((thetas[k] - thetas["ref"]).abs().max()) for k in ("rev", "new")}
        m = {k: float((mean[k] - mean["ref"]).abs().max()) for k in ("rev", "new")}
        print(
            f"| {seed} | {seconds['ref']:.2f} | {seconds['new']:.2f} | {seconds['new'] / seconds['ref']:.2f} "
            f"| {w['rev']:.3g}, {w['new']:.3g} | {m['rev']:.3g}, {m['new']:.3g} "
            f"| {mean['ref'].min():.2f} to {mean['ref'].max():.2f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
