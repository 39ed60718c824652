"""bnnbo's default loop next to Optuna's GPSampler and TPE and a plain BoTorch loop.

Each tool minimises the problem through its own API: 10 initial points (each tool's own
initial design) then 30 sequential points (q = 1). Seeds and tools are interleaved (every
seed runs every tool on every problem before the next seed; the tool order rotates), so
machine noise is shared. Prints per problem the median final regret (best value found minus
the optimum; pest has no known optimum, so its best cost), the seeds' range, mean +- SE and the
median wall time per run.

    python benchmarks/default_loop.py [--seeds 10] [--problems branin hartmann6 ackley10 pest]
        [--tools bnnbo optuna-gp optuna-tpe botorch] [--write-doc]

``--write-doc`` replaces the generated section of docs/performance.md (between its markers).
Variants of bnnbo's loop (``bnnbo/<variant>``, see VARIANTS) measure the choices behind the
default one at a time. Optuna is the optional ``peers`` extra.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import statistics
import sys
import time
from pathlib import Path

import torch
from botorch.test_functions import synthetic as so

from bnnbo import Optimizer, get_problem
from bnnbo.problems.synthetic import BoTorchProblem
from bnnbo.acquisition import OPTIMIZER_PRESETS
from bnnbo.space import Categorical, Float, Integer

PROBLEMS = {
    "branin": ("branin", {}),
    "hartmann6": ("hartmann6", {}),
    "ackley10": ("ackley", {"dim": 10}),
    "pest": ("pest", {}),
    "poly200": ("poly", {"dim": 200}),  # issue 14's high-dimensional problem (peers.py: 20 + 20 points)
}


def _off_centre(name: str, fn) -> BoTorchProblem:
    return BoTorchProblem(name, fn(negate=True))


#: problems whose optima are away from the cube's centre, for priors that favour it (issue 20
#: round 10's quadratic mean): Ackley with its optimum at 0.2 of each range, Styblinski-Tang
#: (optimum at 0.21 of each range) and Levy with its optimum at a corner of the cube
OFF_CENTRE = {
    "ackley10-shifted": lambda: _off_centre(
        "ackley10-shifted", lambda **k: so.Ackley(10, bounds=[(-6.5536, 26.2144)] * 10, **k)
    ),
    "styblinski6": lambda: _off_centre("styblinski6", lambda **k: so.StyblinskiTang(6, **k)),
    "levy6-corner": lambda: _off_centre("levy6-corner", lambda **k: so.Levy(6, bounds=[(1.0, 11.0)] * 6, **k)),
}

#: bnnbo loops compared with the default: Optimizer keyword arguments
VARIANTS: dict[str, dict] = {
    "bnnbo": {},
    # the default before issue 20: BoTorch's GP (noise prior, RBF kernel), qLogNEI, cold fits
    "bnnbo/old": {
        "acquisition": "mc",
        "surrogate_settings": {"noise": "learned", "warm_start": False, "kernel": "botorch"},
    },
    # the default after issue 20's first round: BoTorch's GP warm-started, LogEI, samples around the best
    "bnnbo/round1": {"acq_optimizer": "around-best", "surrogate_settings": {"noise": "learned", "kernel": "botorch"}},
    # one choice of today's default undone at a time
    "bnnbo/botorch-kernel": {"surrogate_settings": {"kernel": "botorch"}},
    "bnnbo/learned-noise": {"surrogate_settings": {"noise": "learned"}},
    "bnnbo/fixed-noise": {"surrogate_settings": {"noise": "fixed"}},
    "bnnbo/fixed-1e-8": {"surrogate_settings": {"noise": "fixed", "fixed_noise": 1e-8}},  # round 14
    "bnnbo/around-best": {"acq_optimizer": "around-best"},
    "bnnbo/pgtol-1e-3": {"acq_optimizer": dataclasses.replace(OPTIMIZER_PRESETS["analytic"], pgtol=1e-3)},
    # round 15: the incumbent's restart is proposed when its log EI is within the margin of the best
    "bnnbo/incumbent-1": {"acq_optimizer": dataclasses.replace(OPTIMIZER_PRESETS["analytic"], incumbent_margin=1.0)},
    "bnnbo/incumbent-3": {"acq_optimizer": dataclasses.replace(OPTIMIZER_PRESETS["analytic"], incumbent_margin=3.0)},
    "bnnbo/incumbent-6": {"acq_optimizer": dataclasses.replace(OPTIMIZER_PRESETS["analytic"], incumbent_margin=6.0)},
    "bnnbo/incumbent-s6": {
        "acq_optimizer": dataclasses.replace(
            OPTIMIZER_PRESETS["analytic"], incumbent_margin=6.0, incumbent_when="improved"
        )
    },
    "bnnbo/incumbent-s100": {
        "acq_optimizer": dataclasses.replace(
            OPTIMIZER_PRESETS["analytic"], incumbent_margin=100.0, incumbent_when="improved"
        )
    },
    "bnnbo/incumbent-10": {"acq_optimizer": dataclasses.replace(OPTIMIZER_PRESETS["analytic"], incumbent_margin=10.0)},
    "bnnbo/pgtol-1e-9": {  # round 14
        "acq_optimizer": dataclasses.replace(OPTIMIZER_PRESETS["analytic"], pgtol=1e-9, maxiter=1000)
    },
    "bnnbo/qlognei": {"acquisition": "mc"},
    "bnnbo/cold-fit": {"surrogate_settings": {"warm_start": False}},
    "bnnbo/warm-uncapped": {"surrogate_settings": {"warm_maxiter": 1000}},
    "bnnbo/warm-20": {"surrogate_settings": {"warm_maxiter": 20}},
    # GPSampler's GP, one part at a time (issue 20, third round)
    "bnnbo/zero-mean": {"surrogate_settings": {"mean": "zero"}},
    "bnnbo/inverse-square-prior": {"surrogate_settings": {"lengthscale_prior": "inverse-square"}},
    "bnnbo/noise-start-1": {"surrogate_settings": {"initial_noise": 1.0}},
    "bnnbo/zero-mean-noise-start-1": {"surrogate_settings": {"mean": "zero", "initial_noise": 1.0}},
    "bnnbo/random-design": {"design": "random"},
    "bnnbo/optuna-gp": {
        "surrogate_settings": {"mean": "zero", "lengthscale_prior": "inverse-square", "initial_noise": 1.0}
    },
    # issue 20, fourth round: when LogEI's best is negligible (log(EI / std(y)) < -6), explore instead
    "bnnbo/explore-ts": {
        "acq_optimizer": dataclasses.replace(OPTIMIZER_PRESETS["analytic"], explore_below=-6.0, explore="thompson")
    },
    # up to 20 warm iterations, stopping once the fit's objective changes by < 1e-4 of itself per iteration
    "bnnbo/warm-20-ftol": {"surrogate_settings": {"warm_maxiter": 20, "warm_ftol": 1e-4}},
    # issue 20, fifth round: lengthscale priors that grow with the dimension (GP setting lengthscale_prior)
    "bnnbo/ls-lognormal": {"surrogate_settings": {"lengthscale_prior": "lognormal"}},  # rounds 2-4's default
    "bnnbo/ls-sqrt-d6": {"surrogate_settings": {"lengthscale_prior": "sqrt-d6"}},
    "bnnbo/ls-sqrt-d10": {"surrogate_settings": {"lengthscale_prior": "sqrt-d10"}},
    "bnnbo/ls-hvarfner": {"surrogate_settings": {"lengthscale_prior": "hvarfner"}},
    "bnnbo/ls-hvarfner-ftol": {
        "surrogate_settings": {"lengthscale_prior": "hvarfner", "warm_maxiter": 20, "warm_ftol": 1e-4}
    },
    "bnnbo/ls-sqrt-d6-ftol": {
        "surrogate_settings": {"lengthscale_prior": "sqrt-d6", "warm_maxiter": 20, "warm_ftol": 1e-4}
    },
    # issue 20, sixth round: LogEI integrated over 8 slice-sampled hyperparameter samples
    "bnnbo/hyper-8": {"surrogate_settings": {"hyper_samples": 8}},
    # ... and (idea B) 4 cold starts, best MAP kept, once the best observation is 5 evaluations old
    "bnnbo/stall-4": {"surrogate_settings": {"stall_starts": 4, "stall_after": 5}},
    # issue 20, seventh round: the GP on Yeo-Johnson-warped values (GP setting output_warp)
    "bnnbo/warp-yj": {"surrogate_settings": {"output_warp": "yeo-johnson"}},
    # ... the default since round 8; without it, the default of rounds 5-7
    "bnnbo/no-warp": {"surrogate_settings": {"output_warp": "none"}},
    # issue 20, tenth round: quadratic prior means against boundary over-exploration (GP setting mean)
    "bnnbo/quadratic-mean": {"surrogate_settings": {"mean": "quadratic"}},
    "bnnbo/quadratic-signed": {"surrogate_settings": {"mean": "quadratic-signed"}},
    "bnnbo/quadratic-linear": {"surrogate_settings": {"mean": "quadratic-linear"}},
    # issue 20, round 12: the constant held at the worst observed value (De Ath et al. 2020)
    "bnnbo/mean-worst": {"surrogate_settings": {"mean": "worst"}},
    # ... chosen by the data: auto between the default GP and the signed quadratic mean's (issue 17)
    "bnnbo/auto-mean": {
        "surrogate": "auto",
        "surrogate_settings": {
            "candidates": ("gp", "gp/quadratic"),
            "candidate_settings": {"gp/quadratic": {"mean": "quadratic-signed", "output_warp": "auto"}},
        },
    },
    # ... and the zero mean as a third candidate (GPSampler's, which finds optima on the bounds)
    "bnnbo/auto-means": {
        "surrogate": "auto",
        "surrogate_settings": {
            "candidates": ("gp", "gp/zero", "gp/quadratic"),
            "candidate_settings": {
                "gp/zero": {"mean": "zero", "output_warp": "auto"},
                "gp/quadratic": {"mean": "quadratic-signed", "output_warp": "auto"},
            },
        },
    },
    "bnnbo/explore-ucb": {
        "acq_optimizer": dataclasses.replace(OPTIMIZER_PRESETS["analytic"], explore_below=-6.0, explore="ucb")
    },
}

DOC = Path(__file__).resolve().parents[1] / "docs" / "performance.md"


def markers(section: str) -> tuple[str, str]:
    return (
        f"<!-- {section}:begin (generated by benchmarks/default_loop.py --write-doc) -->",
        f"<!-- {section}:end -->",
    )


def cost(problem, X: torch.Tensor) -> torch.Tensor:
    """Values to minimise (problems are stored in the maximisation convention)."""
    return -problem.evaluate(X)


def run_bnnbo(problem, seed: int, n_init: int, n_iter: int, design: str = "sobol", **kwargs) -> float:
    opt = Optimizer(problem.space, seed=seed, n_init=n_init, q=1, maximize=False, **kwargs)
    if design == "random":  # uniform random initial points, as GPSampler's RandomSampler start
        g = torch.Generator().manual_seed(seed)
        opt._design = problem.space.from_unit(torch.rand(n_init, problem.space.dim, generator=g, dtype=torch.float64))
    X = opt.ask(n_init)
    opt.tell(X, cost(problem, X))
    for _ in range(n_iter):
        x = opt.ask()
        opt.tell(x, cost(problem, x))
    return float(opt.Y.min())


def _optuna_params(trial, space) -> torch.Tensor:
    row = []
    for p in space.parameters:
        if isinstance(p, Float):
            row.append(trial.suggest_float(p.name, p.low, p.high, log=p.log))
        elif isinstance(p, Integer):
            row.append(float(trial.suggest_int(p.name, p.low, p.high)))
        else:
            assert isinstance(p, Categorical)
            row.append(float(trial.suggest_categorical(p.name, list(range(len(p.choices))))))
    return torch.tensor([row], dtype=torch.float64)


def run_optuna(problem, seed: int, n_init: int, n_iter: int, sampler: str) -> float:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if sampler == "gp":
        s = optuna.samplers.GPSampler(seed=seed, n_startup_trials=n_init)
    else:
        s = optuna.samplers.TPESampler(seed=seed, n_startup_trials=n_init)
    study = optuna.create_study(direction="minimize", sampler=s)
    study.optimize(lambda t: float(cost(problem, _optuna_params(t, problem.space))), n_trials=n_init + n_iter)
    return float(study.best_value)


def run_botorch(problem, seed: int, n_init: int, n_iter: int) -> float:
    """The textbook loop: Sobol design, SingleTaskGP + Standardize, analytic LogEI, optimize_acqf
    (discrete dims optimised relaxed, then rounded to the nearest level)."""
    from botorch.acquisition import LogExpectedImprovement
    from botorch.fit import fit_gpytorch_mll
    from botorch.models import SingleTaskGP
    from botorch.models.transforms.outcome import Standardize
    from botorch.optim import optimize_acqf
    from gpytorch.mlls import ExactMarginalLogLikelihood

    space, d = problem.space, problem.space.dim
    unit = torch.stack([torch.zeros(d), torch.ones(d)]).double()
    torch.manual_seed(seed)
    U = torch.quasirandom.SobolEngine(d, scramble=True, seed=seed).draw(n_init, dtype=torch.float64)
    U = space.snap_unit(U)
    Y = -cost(problem, space.from_unit(U))  # BoTorch maximises
    for _ in range(n_iter):
        gp = SingleTaskGP(U, Y, outcome_transform=Standardize(m=1))
        fit_gpytorch_mll(ExactMarginalLogLikelihood(gp.likelihood, gp))
        acq = LogExpectedImprovement(gp, best_f=Y.max())
        cand, _ = optimize_acqf(acq, unit, q=1, num_restarts=10, raw_samples=512)
        u = space.snap_unit(cand.detach())
        U = torch.cat([U, u])
        Y = torch.cat([Y, -cost(problem, space.from_unit(u))])
    return float(-Y.max())


def run(tool: str, problem, seed: int, n_init: int, n_iter: int) -> float:
    if tool.startswith("bnnbo"):
        return run_bnnbo(problem, seed, n_init, n_iter, **VARIANTS[tool])
    if tool == "optuna-gp":
        return run_optuna(problem, seed, n_init, n_iter, "gp")
    if tool == "optuna-tpe":
        return run_optuna(problem, seed, n_init, n_iter, "tpe")
    if tool == "botorch":
        return run_botorch(problem, seed, n_init, n_iter)
    raise SystemExit(
        f"unknown tool {tool!r}; expected one of {sorted(VARIANTS) + ['optuna-gp', 'optuna-tpe', 'botorch']}"
    )


def regret(problem, best_cost: float) -> float:
    if problem.optimal_value is None:
        return best_cost
    return best_cost - (-problem.optimal_value)


def fmt(v: float) -> str:
    return f"{v:.3g}" if abs(v) < 1000 else f"{v:.0f}"


def seed_ranges(seeds: list[int]) -> str:
    """Sorted seeds as runs: [0, 1, 2, 15, 16] -> "0-2, 15-16"."""
    runs: list[list[int]] = []
    for s in seeds:
        if runs and s == runs[-1][1] + 1:
            runs[-1][1] = s
        else:
            runs.append([s, s])
    return ", ".join(f"{a}-{b}" if a != b else f"{a}" for a, b in runs)


def table(results, problems, tools, times=None, stuck: float | None = None, time_ref: str = "optuna-gp") -> list[str]:
    """One row per (problem, tool) over the seeds that pair ran; the time ratio compares
    medians over the runs of the same seed in the same process as ``time_ref``'s.

    ``times``: {(problem, tool): {(run, seed): seconds}} (default: one run, from ``results``).
    ``stuck``: add a column counting the seeds whose final regret is above it.
    """
    if times is None:
        times = {key: {(0, s): v[1] for s, v in by_seed.items()} for key, by_seed in results.items()}
    all_seeds = sorted({s for r in results.values() for s in r})
    lines = [
        (
            f"Seeds {seed_ranges(all_seeds)} (a row's count in its own column); regret = best value "
            "found - optimum (pest: the best cost found, it has no known optimum); wall seconds per run "
            "of 40 evaluations."
        ),
        "",
        (
            "| problem | tool | seeds | median final regret | seeds' range | mean +- SE | median s / 40 evals "
            f"| time vs {time_ref} |"
        ),
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    if stuck is not None:
        lines[0] += f" Stuck: seeds with final regret > {stuck:g}."
        lines[2] += " stuck |"
        lines[3] += "---:|"
    for p in problems:
        ref = times.get((p, time_ref), {})
        for tool in tools:
            by_seed = results.get((p, tool), {})
            if not by_seed:
                continue
            r = [v[0] for v in by_seed.values()]
            t = statistics.median(v[1] for v in by_seed.values())
            se = statistics.stdev(r) / math.sqrt(len(r)) if len(r) > 1 else float("nan")
            mine_t = times.get((p, tool), {})
            common = [k for k in mine_t if k in ref]  # same seed, same run (process)
            ratio = "-"
            if common and tool != time_ref:
                mine = statistics.median(mine_t[k] for k in common)
                ratio = f"{mine / statistics.median(ref[k] for k in common):.2f}x"
            name = f"**{tool}**" if tool == "bnnbo" else tool
            lines.append(
                f"| {p} | {name} | {len(r)} | {fmt(statistics.median(r))} | {fmt(min(r))} - {fmt(max(r))} | "
                f"{fmt(statistics.fmean(r))} +- {fmt(se)} | {t:.2f} | {ratio} |"
                + (f" {sum(v > stuck for v in r)} |" if stuck is not None else "")
            )
    return lines


def target_met(mine: dict[str, float], ref: dict[str, float]) -> bool:
    """Issue 20's regret target on medians per problem: no worse on any, better on at least two."""
    return all(mine[p] <= ref[p] for p in mine) and sum(mine[p] < ref[p] for p in mine) >= 2


def odds(results, problems, tool: str, ref: str, k: int, samples: int = 100_000) -> list[str]:
    """How often ``tool`` meets the target against ``ref`` on ``k`` seeds per problem: ``samples``
    draws of ``k`` seeds, each problem's from the seeds both tools ran there, independently (the
    problems' runs share nothing but the seed's number)."""
    import random

    from scipy.stats import mannwhitneyu

    seeds = {p: sorted(set(results.get((p, tool), {})) & set(results.get((p, ref), {}))) for p in problems}
    short = [p for p in problems if len(seeds[p]) < k]
    if short:
        raise SystemExit(f"--odds: fewer than {k} seeds run by both {tool} and {ref} on {short}")
    val = {(p, t): results[p, t] for p in problems for t in (tool, ref)}

    def medians(chosen: dict[str, list[int]], t: str) -> dict[str, float]:
        return {p: statistics.median(val[p, t][s][0] for s in chosen[p]) for p in problems}

    rng = random.Random(0)
    met, better = 0, dict.fromkeys(problems, 0)
    for _ in range(samples):
        chosen = {p: rng.sample(seeds[p], k) for p in problems}
        mine, theirs = medians(chosen, tool), medians(chosen, ref)
        met += target_met(mine, theirs)
        for p in problems:
            better[p] += mine[p] < theirs[p]
    first = {p: seeds[p][:k] for p in problems}
    lines = [
        f"{tool} against {ref}; per problem the seeds both ran; {samples} draws of {k} seeds per problem.",
        "",
        f"| problem | seeds | median regret, {tool} | median regret, {ref} | P({tool}'s run lower than {ref}'s) "
        f"| Mann-Whitney U, two-sided p | draws with {tool}'s median of {k} lower |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for p in problems:
        a = [val[p, tool][s][0] for s in seeds[p]]
        b = [val[p, ref][s][0] for s in seeds[p]]
        # U counts the pairs where a's run is the larger: the share where it is lower is 1 - U / (n m)
        test = mannwhitneyu(a, b, alternative="two-sided")
        lower = 1 - test.statistic / (len(a) * len(b))
        pvalue = f"{test.pvalue:.2f}" if test.pvalue >= 0.01 else f"{test.pvalue:.1e}"
        lines.append(
            f"| {p} | {seed_ranges(seeds[p])} | {fmt(statistics.median(a))} | {fmt(statistics.median(b))} | "
            f"{lower:.2f} | {pvalue} | {better[p] / samples:.0%} |"
        )
    if len(problems) < 2:  # the target needs two problems to be better on
        return lines
    verdict = "met" if target_met(medians(first, tool), medians(first, ref)) else "not met"
    lines += [
        "",
        f"The target (no worse on every problem, better on at least two) holds in {met / samples:.0%} of the "
        f"draws; on each problem's first {k} seeds it is {verdict}.",
    ]
    return lines


def blocks(results, problems, tool: str, ref: str, k: int) -> list[str]:
    """Issue 20's whole target (regret and time) on each block of ``k`` consecutive seeds that
    both tools ran on every problem: seeds ``b * k`` to ``b * k + k - 1``, each block one
    independent ten-seed measurement."""
    common = set.intersection(*(set(results.get((p, t), {})) for p in problems for t in (tool, ref)))
    starts = sorted({s - s % k for s in common if all(x in common for x in range(s - s % k, s - s % k + k))})
    if not starts:
        raise SystemExit(f"--blocks: no {k} consecutive seeds run by both {tool} and {ref} on every problem")
    header = " | ".join(f"{p}: median regret, {tool} / {ref}; median s" for p in problems)
    lines = [
        f"{tool} against {ref} on each block of {k} seeds both ran on every problem; a block meets the target "
        f"when {tool}'s median final regret is no worse than {ref}'s on every problem and lower on at least two, "
        f"and its median wall time per run is no more than {ref}'s on every problem.",
        "",
        f"| seeds | {header} | target |",
        "|---|" + "---|" * len(problems) + "---|",
    ]
    met_blocks = 0
    for b in starts:

        def medians(t: str, i: int, seeds=range(b, b + k)) -> dict[str, float]:  # i: 0 regret, 1 seconds
            return {p: statistics.median(results[p, t][s][i] for s in seeds) for p in problems}

        mine, theirs, t_mine, t_theirs = medians(tool, 0), medians(ref, 0), medians(tool, 1), medians(ref, 1)
        met = target_met(mine, theirs) and all(t_mine[p] <= t_theirs[p] for p in problems)
        met_blocks += met
        cells = " | ".join(f"{fmt(mine[p])} / {fmt(theirs[p])}; {t_mine[p]:.2f} / {t_theirs[p]:.2f}" for p in problems)
        lines.append(f"| {b}-{b + k - 1} | {cells} | {'met' if met else 'not met'} |")
    lines += ["", f"The target is met on {met_blocks} of {len(starts)} blocks."]
    return lines


def write_doc(lines: list[str], commands: list[str], section: str = "default_loop") -> None:
    BEGIN, END = markers(section)
    text = DOC.read_text()
    if BEGIN not in text or END not in text:
        raise SystemExit(f"{DOC} has no generated section ({BEGIN!r} ... {END!r})")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    body = "\n".join([BEGIN, ""] + ["    " + c for c in commands] + [""] + lines + ["", END])
    DOC.write_text(head + body + tail)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--first-seed", type=int, default=0)
    ap.add_argument("--problems", nargs="+", default=list(PROBLEMS), choices=[*PROBLEMS, *OFF_CENTRE])
    ap.add_argument("--tools", nargs="+", default=["bnnbo", "optuna-gp", "optuna-tpe", "botorch"])
    ap.add_argument("--n-init", type=int, default=10)
    ap.add_argument("--iterations", type=int, default=30)
    ap.add_argument("--write-doc", action="store_true", help="write the table into docs/performance.md")
    ap.add_argument("--save", help="also write the per-seed results to this JSON file")
    ap.add_argument(
        "--merge",
        nargs="+",
        metavar="JSON",
        help="run nothing: tabulate saved results (e.g. seed ranges run as parallel processes)",
    )
    ap.add_argument("--only-seeds", type=int, nargs="+", help="with --merge: tabulate these seeds only")
    ap.add_argument("--only-tools", nargs="+", help="with --merge: tabulate these tools only (in this order)")
    ap.add_argument("--stuck", type=float, help="with --merge: count the seeds with final regret above this")
    ap.add_argument("--section", default="default_loop", help="the doc's generated section to write")
    ap.add_argument("--time-ref", default="optuna-gp", help="with --merge: the tool the time column compares with")
    ap.add_argument(
        "--rename",
        nargs="+",
        default=[],
        metavar="OLD=NEW",
        help="with --merge: read OLD's rows as NEW's (e.g. a variant that has since become the default)",
    )
    ap.add_argument(
        "--odds",
        nargs=2,
        metavar=("TOOL", "REF"),
        help="with --merge: on how many sets of --odds-seeds seeds TOOL meets issue 20's regret target against REF",
    )
    ap.add_argument("--odds-seeds", type=int, default=10)
    ap.add_argument(
        "--blocks",
        nargs=2,
        metavar=("TOOL", "REF"),
        help="with --merge: issue 20's whole target, TOOL against REF, on each block of --odds-seeds consecutive seeds",
    )
    args = ap.parse_args()
    if args.merge:
        renames = dict(r.split("=", 1) for r in args.rename)
        results, problems, tools, times = merge(args.merge, args.only_seeds, renames)
        problems = [p for p in problems if p in args.problems]
        if args.odds or args.blocks:
            lines = (
                odds(results, problems, *args.odds, args.odds_seeds)
                if args.odds
                else blocks(results, problems, *args.blocks, args.odds_seeds)
            )
            print("\n".join(lines))
            if args.write_doc:
                again = " ".join(a for a in sys.argv[1:] if a != "--write-doc")
                write_doc(lines, [f"python benchmarks/default_loop.py {again} --write-doc"], args.section)
            return
        if args.only_tools:
            tools = [t for t in args.only_tools if t in tools]
        lines = table(results, problems, tools, times, args.stuck, args.time_ref)
        print("\n".join(lines))
        if args.write_doc:
            runs = [json.loads(Path(f).read_text())["command"] + f" --save {f}" for f in args.merge]
            again = " ".join(a for a in sys.argv[1:] if a != "--write-doc")
            write_doc(lines, runs + [f"python benchmarks/default_loop.py {again} --write-doc"], args.section)
        return
    torch.set_num_threads(1)  # the same for every tool; the machine is shared
    seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    results: dict = {(p, t): {} for p in args.problems for t in args.tools}
    argv, skip = [], False
    for a in sys.argv[1:]:  # the command that reproduces the numbers, without where they were saved
        if skip or a in ("--write-doc", "--save"):
            skip = a == "--save"
            continue
        argv.append(a)
    command = "python benchmarks/default_loop.py " + " ".join(argv)
    for k, seed in enumerate(seeds):
        for p in args.problems:
            if p in OFF_CENTRE:
                problem = OFF_CENTRE[p]()
            else:
                name, options = PROBLEMS[p]
                problem = get_problem(name, **options)
            order = args.tools[k % len(args.tools) :] + args.tools[: k % len(args.tools)]
            for tool in order:
                t0 = time.perf_counter()
                best = run(tool, problem, seed, args.n_init, args.iterations)
                results[p, tool][seed] = (regret(problem, best), time.perf_counter() - t0)
                print(
                    f"seed {seed} {p:<10} {tool:<22} regret {results[p, tool][seed][0]:.4g} "
                    f"{results[p, tool][seed][1]:.2f} s",
                    file=sys.stderr,
                    flush=True,
                )
                if args.save:  # after every run, so an interrupted benchmark keeps what it measured
                    save(args.save, results, command)
    lines = table(results, args.problems, args.tools)
    print("\n".join(lines))
    if args.write_doc:
        write_doc(lines, [command.strip()])


def save(path: str, results: dict, command: str) -> None:
    rows = [
        {"problem": p, "tool": t, "seed": s, "regret": r, "seconds": sec}
        for (p, t), by_seed in results.items()
        for s, (r, sec) in by_seed.items()
    ]
    Path(path).write_text(json.dumps({"command": command, "rows": rows}, indent=1))


def merge(paths: list[str], only_seeds: list[int] | None = None, renames: dict[str, str] | None = None):
    """Results of several saved runs; a later file's (problem, tool, seed) replaces an earlier one.
    ``renames``: read a tool's rows under another name."""
    results: dict = {}
    times: dict = {}
    problems, tools = [], []
    for run, path in enumerate(paths):
        for row in json.loads(Path(path).read_text())["rows"]:
            p, t, seed = row["problem"], (renames or {}).get(row["tool"], row["tool"]), row["seed"]
            if only_seeds is not None and seed not in only_seeds:
                continue
            problems += [p] if p not in problems else []
            tools += [t] if t not in tools else []
            results.setdefault((p, t), {})[seed] = (row["regret"], row["seconds"])
            by_run = times.setdefault((p, t), {})
            for key in [k for k in by_run if k[1] == seed]:
                del by_run[key]
            by_run[run, seed] = row["seconds"]
    return results, problems, tools, times


if __name__ == "__main__":
    main()
