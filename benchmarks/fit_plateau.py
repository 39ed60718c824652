"""Would a stop on a training-loss plateau shorten the cold fits' Adam runs? The objective that
``adam_map`` minimises (summed over the stacked networks) along ``ensemble``'s cold fit and
``hmc``'s pre-training, on Hartmann6 Sobol points, with the surrogates' default settings and
their own initialisation; per seed: the objective at a few steps relative to its value at the
last step, and the first step at which a plateau rule would stop ("the best objective so far
fell by less than ``tol`` (relative) over the last ``window`` steps").

    python benchmarks/fit_plateau.py --seeds 5
"""

from __future__ import annotations

import argparse
import statistics

import torch

from bnnbo.problems import get_problem
from bnnbo.surrogates import get_surrogate
from bnnbo.surrogates.adam import FusedAdam
from bnnbo.surrogates.networks.bnn_common import prepare
from bnnbo.surrogates.networks.ensemble import subset_mask
from bnnbo.surrogates.networks.mlp import MLPSpec, dtype_of

CHECKPOINTS = (250, 500, 750)
TOLS = (1e-2, 1e-3)


def trajectory(name: str, U, Y, seed: int) -> list[float]:
    """The summed objective before each Adam step, as the surrogate's cold fit runs it."""
    s = get_surrogate(name).settings
    data = prepare(U, Y, True, s.dtype)
    spec = MLPSpec(U.shape[-1], s.widths, Y.shape[-1], s.activation)
    gen = torch.Generator().manual_seed(seed)
    if name == "ensemble":
        theta = spec.init(s.n_members, gen, dtype_of(s.dtype))
        weights = subset_mask(s.n_members, U.shape[0], s.train_prop, gen).to(data.X)
        steps, lr = s.train_steps, s.lr
    else:  # hmc's pre-training: its chains (one on a CPU), no subsets
        theta = spec.init(s.chains_on(data.X.device), gen, dtype_of(s.dtype))
        weights, steps, lr = None, s.pretrain_steps, s.pretrain_lr
    opt, out = FusedAdam(theta, lr=lr), []
    for _ in range(steps):
        u, grad, _ = spec.potential_and_grad(theta, data.X, data.Y, s.noise_std**2, s.prior_var, weights)
        out.append(float(u.sum()))
        opt.step(grad)
    return out


def plateau_stop(losses: list[float], tol: float, window: int) -> int | None:
    best = []
    for v in losses:
        best.append(min(v, best[-1]) if best else v)
    for t in range(window, len(best)):
        if best[t - window] - best[t] < tol * abs(best[t - window]):
            return t
    return None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--window", type=int, default=100)
    args = ap.parse_args()
    torch.set_num_threads(1)
    problem = get_problem("hartmann6")
    print(f"window {args.window} steps; objective at a step / objective at the last step (median, range)\n")
    head = " | ".join(f"step {c}" for c in CHECKPOINTS)
    stops = " | ".join(f"stop, tol {t:g}" for t in TOLS)
    print(f"| fit | n | steps | seeds | {head} | {stops} |")
    print("|---|---:|---:|---:|" + "---:|" * (len(CHECKPOINTS) + len(TOLS)))
    for name, n in (("ensemble", 10), ("ensemble", 100), ("hmc", 10), ("hmc", 100)):
        ratios, found = {c: [] for c in CHECKPOINTS}, {t: [] for t in TOLS}
        for seed in range(args.seeds):
            X = problem.space.sobol(n, seed=seed)
            losses = trajectory(name, problem.space.to_unit(X), problem.evaluate(X), seed)
            for c in CHECKPOINTS:
                ratios[c].append(losses[c] / losses[-1])
            for t in TOLS:
                found[t].append(plateau_stop(losses, t, args.window))
        cells = " | ".join(f"{statistics.median(r):.2f} ({min(r):.2f}-{max(r):.2f})" for r in ratios.values())
        stop_cells = " | ".join(", ".join("-" if v is None else str(v) for v in f) for f in found.values())
        label = "ensemble (cold)" if name == "ensemble" else "hmc pre-training"
        print(f"| {label} | {n} | {len(losses)} | {args.seeds} | {cells} | {stop_cells} |", flush=True)
    print("\n(stop: the step at which the rule would stop, per seed; '-': it did not fire)")


if __name__ == "__main__":
    main()
