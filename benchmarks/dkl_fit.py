"""DKL fit time: gpytorch's marginal likelihood and torch.optim's Adam (before) against
bnnbo's plain-torch ``DKLObjective`` and fused ``Adam`` (now), side by side in one process.

For each case (a problem's paper preset, n Sobol points of that problem in the unit cube, the
study's raw-y target) both variants fit the same data from the same seed, alternating which
goes first, and the script prints wall and CPU seconds per fit (medians over repeats), their
ratios, and how far the two fitted models agree (the final losses and the posterior means at
the training points, relative to the spread of y; identical up to the rounding that 6,000
Adam steps accumulate).

    python benchmarks/dkl_fit.py [--cases branin:20,branin:100,hartmann6:20,hartmann6:100]
        [--repeats 1] [--train-steps N] [--pretrain-steps N] [--profile]

One torch thread. ``--train-steps`` / ``--pretrain-steps`` shorten the fits for a quick look
(default: the preset's, 1000 + 5000). ``--profile`` instead splits one step of each phase into
its parts (CPU milliseconds per step, medians of blocks of steps): the pre-training step, and
the marginal-likelihood step's loss, backward pass and optimiser step, before and now.
``--rounding`` instead asks how far apart rounding alone puts two fits: "before" on y and on
y * (1 + 1e-15) (one-ulp changes), against "before" and "now" on y.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import time

import torch
from gpytorch.mlls import ExactMarginalLogLikelihood

from bnnbo.problems import get_problem
from bnnbo.surrogates import get_surrogate
from bnnbo.surrogates.adam import FusedAdam as Adam
from bnnbo.surrogates.gaussian.dkl import DKLObjective, mlp, pretrain

VARIANTS = ("before", "now")


def fit(problem: str, U, Y, reference: bool, overrides: dict, seed: int):
    sur = get_surrogate("dkl", preset=f"paper:{problem}", **overrides)
    sur.reference = reference
    wall, cpu = time.perf_counter(), time.process_time()
    model = sur.fit(U, Y, seed=seed)
    return model, sur.diagnostics_["mll_loss"][0], time.perf_counter() - wall, time.process_time() - cpu


def _ms_per_step(fn, steps: int, blocks: int = 5) -> float:
    times = []
    for _ in range(blocks):
        t = time.process_time()
        for _ in range(steps):
            fn()
        times.append((time.process_time() - t) / steps * 1e3)
    return statistics.median(times)


def profile(name: str, U, Y, steps: int = 50) -> dict[str, dict[str, float]]:
    """CPU ms per step of each part, before and now, at the preset's network (paper mode: raw y)."""
    sur = get_surrogate("dkl", preset=f"paper:{name}", pretrain_steps=0, train_steps=0)
    built = sur.fit(U, Y, seed=0)
    s, y = sur.settings, Y[:, 0]
    out = {}
    for v in VARIANTS:
        ref = v == "before"
        net = mlp(U.shape[-1], s.widths, s.activation)
        # whole pre-trainings of 5 * steps steps (each builds its optimiser once), per step
        parts = {
            "pretrain step": _ms_per_step(lambda: pretrain(net, U, Y, 5 * steps, s.pretrain_lr, not ref), 1)
            / (5 * steps)
        }
        gp = copy.deepcopy(built).train()
        if ref:
            mll = ExactMarginalLogLikelihood(gp.likelihood, gp)

            def loss_of():
                return -mll(gp(U), y)

            opt = torch.optim.Adam(gp.parameters(), lr=s.lr)
        else:
            loss_of, opt = DKLObjective(gp, y), Adam(gp.parameters(), lr=s.lr)
        holder = {}

        def forward():
            opt.zero_grad()
            holder["loss"] = loss_of()

        def step():
            forward()
            holder["loss"].backward()
            opt.step()

        for _ in range(5):
            step()
        parts["mll loss"] = _ms_per_step(forward, steps)
        parts["mll step"] = _ms_per_step(step, steps)
        forward()
        holder["loss"].backward()
        parts["adam step"] = _ms_per_step(opt.step, steps)
        parts["mll backward (step - loss - adam)"] = parts["mll step"] - parts["mll loss"] - parts["adam step"]
        out[v] = parts
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", default="branin:20,branin:100,hartmann6:20,hartmann6:100")
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--train-steps", type=int, default=None)
    ap.add_argument("--pretrain-steps", type=int, default=None)
    ap.add_argument("--profile", action="store_true", help="split a step into its parts instead of timing fits")
    ap.add_argument("--rounding", action="store_true", help="compare with a one-ulp change of y instead")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    overrides = {
        k: v for k, v in (("train_steps", args.train_steps), ("pretrain_steps", args.pretrain_steps)) if v is not None
    }
    if args.profile:
        print("| problem | n | part | before ms | now ms | ratio |\n|---|---:|---|---:|---:|---:|")
        for case in args.cases.split(","):
            name, n = case.split(":")
            p = get_problem(name)
            X = p.space.sobol(int(n), seed=0)
            prof = profile(name, p.space.to_unit(X), p.evaluate(X))
            for part in prof["before"]:
                b, w = prof["before"][part], prof["now"][part]
                print(f"| {name} | {n} | {part} | {b:.2f} | {w:.2f} | {b / w:.1f} |", flush=True)
        return 0
    if args.rounding:
        print("| problem | n | final loss before / before on y(1+1e-15) / now | max mean gap / sd(y): perturbed, now |")
        print("|---|---:|---|---|")
        for case in args.cases.split(","):
            name, n = case.split(":")
            p = get_problem(name)
            X = p.space.sobol(int(n), seed=0)
            U, Y = p.space.to_unit(X), p.evaluate(X)
            fits = [
                fit(name, U, y, ref, overrides, seed=0)[:2]
                for y, ref in ((Y, True), (Y * (1 + 1e-15), True), (Y, False))
            ]
            with torch.no_grad():
                means = [m.posterior(U).mean.squeeze(-1) for m, _ in fits]
            gaps = [float((means[0] - m).abs().max() / Y.std()) for m in means[1:]]
            losses = " / ".join(f"{loss:.6f}" for _, loss in fits)
            print(f"| {name} | {n} | {losses} | {gaps[0]:.1e}, {gaps[1]:.1e} |", flush=True)
        return 0
    rows = []
    warm = get_problem("branin")
    Xw = warm.space.sobol(5, seed=0)
    for v in VARIANTS:  # a process's first fit pays one-off imports and set-up
        fit(
            "branin",
            warm.space.to_unit(Xw),
            warm.evaluate(Xw),
            v == "before",
            {"train_steps": 2, "pretrain_steps": 2},
            seed=0,
        )
    for case in args.cases.split(","):
        name, n = case.split(":")
        p = get_problem(name)
        X = p.space.sobol(int(n), seed=0)
        U, Y = p.space.to_unit(X), p.evaluate(X)
        times: dict[str, list[tuple[float, float]]] = {v: [] for v in VARIANTS}
        models, losses = {}, {}
        for rep in range(args.repeats):
            for v in VARIANTS if rep % 2 == 0 else VARIANTS[::-1]:
                model, loss, wall, cpu = fit(name, U, Y, v == "before", overrides, seed=rep)
                times[v].append((wall, cpu))
                if rep == 0:
                    models[v], losses[v] = model, loss
                print(f"  {name} n={n} repeat {rep + 1} {v}: wall {wall:.1f} s, cpu {cpu:.1f} s", flush=True)
        with torch.no_grad():
            means = [models[v].posterior(U).mean.squeeze(-1) for v in VARIANTS]
        gap = float((means[0] - means[1]).abs().max() / Y.std())
        med = {v: [statistics.median(t[i] for t in times[v]) for i in (0, 1)] for v in VARIANTS}
        rows.append((name, n, med, losses, gap))
    steps = f"{args.pretrain_steps or 'preset'} + {args.train_steps or 'preset'} steps"
    print(f"\nmedians over {args.repeats} repeat(s); {steps}; seconds per fit\n")
    print(
        "| problem | n | wall before | wall now | wall ratio | cpu before | cpu now | cpu ratio "
        "| final loss before / now | max mean gap / sd(y) |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---|---:|")
    for name, n, med, losses, gap in rows:
        (wb, cb), (wn, cn) = med["before"], med["now"]
        print(
            f"| {name} | {n} | {wb:.1f} | {wn:.1f} | {wb / wn:.2f} | {cb:.1f} | {cn:.1f} | {cb / cn:.2f} "
            f"| {losses['before']:.6f} / {losses['now']:.6f} | {gap:.1e} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
