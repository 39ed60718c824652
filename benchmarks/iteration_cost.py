"""What one BO iteration costs, per surrogate: fit, acquisition set-up, raw samples, gradient
optimisation and candidate selection, with the acquisition value the candidates reach.

For each data set (problem by dimension, ``n`` Sobol points, seed) every surrogate is fitted
once (a warm start, as in a BO run, where the surrogate has one, ``WARM``: first fitted untimed
on the first ``n - q`` points) and its acquisition (qLogNEI, the "default" optimiser preset) is
optimised; surrogates and paths run interleaved, next to each other, so the machine's drift
hits all alike. Sample-based posteriors (hmc, sghmc, ensemble) run several paths on the same fit:

* ``new``: the library's default acquisition path (each distinct network evaluated once per
  draw; ``posterior.ACQUISITION_SAMPLES`` MC samples, at most one per kept network; the
  two-stage search, ``c16p2``, jointly, or greedily where the model sets ``greedy_batches``:
  ``seqb4x10i20``);
* ``old``: the path before issue 19 (128 MC samples, i.e. networks, per evaluation and no
  deduplication of repeated networks in a draw: ``SampleModel.fast_draws = False``);
* ``prev``: the defaults before the second round (its own fit with the ``PREVIOUS``
  settings, none now; the search ``c16p2`` as it was, each evaluation running the networks at
  the baseline too);
* ``prev3``: the code before the third round: today's search (``new``) on a fit by the
  previous fitting code, ``PREVIOUS3`` (``sghmc``: the allocating reference step, the same
  numbers bit for bit, so the search is not rerun: the row takes ``new``'s acquisition phases
  and only its fit is timed, after checking that both fits' networks are identical; surrogates
  whose fitting code did not change get no ``prev3`` row);
* ``prev6``: the code before the sixth round: today's search (``new``) on a fit by the previous
  fitting code, ``PREVIOUS6`` (``ensemble``: ``adam_map`` on all points with 0/1 weights, the
  same networks up to float rounding, which 1000 float32 Adam steps amplify: a fit of its own);
  fitted before ``new`` on odd seeds, after it on even ones, against the machine's drift;
* ``variant``: today's search on a fit with the ``--variant`` settings (e.g. ``pretrain_steps=0``);
* ``joint``: the joint two-stage search (``new`` before round five, and still ``new`` for
  surrogates whose models do not set ``greedy_batches``);
* ``today``: main at commit 1e0a1b3, before the two-stage search (``new`` with
  ``SampleModel.coarse_samples = None``: every evaluation on all MC samples);
* ``mcK``: the new path with K MC samples;
* ``iK``: the new path with the polish capped at K L-BFGS-B iterations
  (``SampleModel.polish_maxiter``);
* ``pJ``: the new path with J restarts polished on all networks (``SampleModel.polished_restarts``);
* ``seq``: the batch built greedily, point by point with the earlier ones pending (the
  "sequential" optimiser preset), every evaluation on all MC samples (one stage);
* ``seqcK`` / ``seqcKpJ``: greedily, each point by the two-stage search (K networks first, J
  restarts polished; the rest as ``new``: baseline cached, no rerun of the first stage);
* ``seqbRxM``: greedily on the first stage's networks alone (``posterior.COARSE_SAMPLES``; R
  restarts and at most M L-BFGS-B iterations per point: ``SampleModel.greedy_maxiter``), then
  the whole batch polished jointly on all networks from there (the preset's iterations;
  ``SampleModel.greedy_polish = "batch"``); ``seqbRxMiK``: that polish capped at K iterations
  (``SampleModel.greedy_polish_maxiter``);
* ``cK`` / ``cKpJ``: the two-stage search, K networks in the optimiser's first stage and J
  (default ``posterior.POLISHED_RESTARTS``) restarts polished on all networks, as before the
  second round (baseline with every evaluation, the first stage rerun after a failed line search).

The value reached is the log expected improvement of the chosen ``q`` points under a
reference acquisition: for sample-based posteriors qLogNEI over *all* kept networks (each
once, so no path is judged by its own MC samples); for the others their own acquisition.

    python benchmarks/iteration_cost.py --quick
    python benchmarks/iteration_cost.py --summarise run1.jsonl run2.jsonl   # tables of earlier runs
    python benchmarks/iteration_cost.py --surrogates gp,hmc,ensemble,sghmc,gp ...   # gp before and after
    python benchmarks/iteration_cost.py --surrogates gp,hmc,ensemble,sghmc --q 10 --dims 6 \
        --n 10,40,70,100 --seeds 5
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import statistics
import time
from collections import defaultdict
from contextlib import contextmanager
from dataclasses import replace

import botorch.optim.optimize as botorch_optimize
import torch
from botorch.acquisition import qLogNoisyExpectedImprovement
from botorch.sampling.get_sampler import get_sampler

from bnnbo.acquisition import OPTIMIZER_PRESETS, build_acquisition, optimize_acquisition
from bnnbo.problems import get_problem
from bnnbo.surrogates import get_surrogate
from bnnbo.surrogates.networks.ensemble import EnsembleSurrogate
from bnnbo.surrogates.networks.sghmc import SGHMCSurrogate
from bnnbo.surrogates.posterior import (
    COARSE_SAMPLES,
    GREEDY_MAXITER,
    GREEDY_POLISH,
    GREEDY_POLISH_MAXITER,
    GREEDY_RESTARTS,
    POLISH_MAXITER,
    POLISHED_RESTARTS,
    SampleModel,
)

from warm_fit_quality import settings

SURROGATES = ("gp", "ibnn", "hmc", "sghmc", "ensemble", "laplace", "dkl")
SAMPLE_BASED = ("hmc", "sghmc", "ensemble")
PROBLEMS = {2: ("branin", {}), 6: ("hartmann6", {}), 10: ("ackley", {"dim": 10}), 200: ("ackley", {"dim": 200})}
PHASES = ("fit", "setup", "raw", "grad", "select")
#: surrogates a BO run warm-starts from its previous fit (fitted untimed on the first n - q points)
WARM = ("gp", "hmc", "ensemble", "laplace")
#: the ``prev`` path: the defaults before the second round of issue 19 (its own fit with these
#: settings, then the two-stage search as it was: ``c16p2``, the baseline evaluated with the
#: candidates at every call, BoTorch's rerun of the first stage after a failed line search)
PREVIOUS: dict[str, dict] = {}  # (round two's setting changes were withdrawn: docs/performance.md)
PREVIOUS_PATH = "c16p2"
#: the ``prev3`` path: per surrogate, a context manager that restores the fitting code before
#: issue 19's third round (only sghmc's changed, with identical numbers)
PREVIOUS3 = {"sghmc": lambda: _class_attr(SGHMCSurrogate, "reference_step", True)}
#: the ``prev6`` path: per surrogate, a context manager that restores the fitting code before
#: issue 19's sixth round (ensemble's trainer)
PREVIOUS6 = {"ensemble": lambda: _class_attr(EnsembleSurrogate, "reference_trainer", True)}
QUICK = {"surrogates": ",".join(SURROGATES), "q": "1,10", "dims": "6", "n": "20", "seeds": 1}


@contextmanager
def _class_attr(cls, name, value):
    old = getattr(cls, name)
    setattr(cls, name, value)
    try:
        yield
    finally:
        setattr(cls, name, old)


class PhaseClock:
    """Seconds spent in BoTorch's initial-condition search and gradient optimisation, by
    wrapping the functions ``optimize_acqf`` looks up when called."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        for phase, name in (("raw", "gen_batch_initial_conditions"), ("grad", "gen_candidates_scipy")):
            setattr(botorch_optimize, name, self._timed(phase, getattr(botorch_optimize, name)))

    def _timed(self, phase: str, fn):
        def wrapper(*args, **kwargs):
            t = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds[phase] += time.perf_counter() - t

        return wrapper

    @contextmanager
    def fresh(self):
        self.seconds.clear()
        yield self.seconds


def reference_acquisition(model, U, Y, seed):
    """qLogNEI over all kept networks of a sample model, else the model's own acquisition."""
    if isinstance(model, SampleModel):  # BoTorch's own qLogNEI: no path's shortcuts
        sampler = get_sampler(model.posterior(U[:1]), sample_shape=torch.Size([model.num_samples]), seed=seed)
        return qLogNoisyExpectedImprovement(model, X_baseline=U, sampler=sampler, prune_baseline=True)
    return build_acquisition(model, U, Y, mode="default", ref_point=None, seed=seed)


def one_path(model, space, U, Y, q, seed, path, clock) -> dict:
    # "seq...": the batch built greedily (the "sequential" preset), today's settings otherwise;
    # "seqbRxM": greedily on the first stage's networks alone (R restarts, at most M L-BFGS-B
    # iterations per point), then the whole batch polished jointly on all networks
    greedy = path.startswith("seq")
    preset = OPTIMIZER_PRESETS["sequential" if greedy else "default"]
    batch_polish, greedy_maxiter, polish_cap = path.startswith("seqb"), None, None
    if batch_polish:
        restarts, _, maxiter = path[4:].partition("x")
        maxiter, _, cap = maxiter.partition("i")
        preset, greedy_maxiter = replace(preset, num_restarts=int(restarts)), int(maxiter)
        polish_cap = int(cap) if cap else None
        path = ""
    elif greedy:
        path = path[3:]
    if isinstance(model, SampleModel):
        greedy_default = model.greedy_batches
        model.fast_draws = path != "old"
        coarse, _, polished = path[1:].partition("p") if path[:1] == "c" else ("", "", path[1:] * (path[:1] == "p"))
        one_stage = path in ("old", "today") or (greedy and not path and not batch_polish)
        # "new": the model's own search (greedy where its surrogate sets greedy_batches); the
        # other paths are variations of the joint two-stage search ("joint") or greedy ones
        if path != "new":
            model.greedy_batches = False
        if greedy:
            model.greedy_polish = "batch" if batch_polish else "point"
            model.greedy_maxiter, model.greedy_polish_maxiter = greedy_maxiter, polish_cap
            model.greedy_restarts = None  # the preset's
        model.coarse_samples = None if one_stage else int(coarse) if coarse else COARSE_SAMPLES
        model.polished_restarts = int(polished) if polished else POLISHED_RESTARTS
        model.polish_maxiter = int(path[1:]) if path[:1] == "i" else POLISH_MAXITER
        # all but "new", "iK" (new, polish capped), "pJ" (new, J polished) and the greedy paths
        # are the search as it was before the baseline was cached
        now = path in ("new", "joint", "") or path[:1] in "ip" or greedy
        model.baseline_once, model.retry_coarse = now, not now
    kwargs = {"num_samples": 128} if path == "old" else {}
    if path.startswith("mc"):
        kwargs["num_samples"] = int(path[2:])
    with clock.fresh() as sec, torch.random.fork_rng():
        torch.manual_seed(seed)
        t0 = time.perf_counter()
        acq = build_acquisition(model, U, Y, mode="default", ref_point=None, seed=seed, **kwargs)
        calls = {"calls": 0, "batches": 0}  # acquisition calls and the t-batches they evaluated

        def count(_module, inputs):
            calls["calls"] += 1
            calls["batches"] += inputs[0].shape[0]

        acq.register_forward_pre_hook(count)
        t1 = time.perf_counter()
        cand = optimize_acquisition(acq, space, q, preset, "proper")
        t2 = time.perf_counter()
        out = {
            "setup": t1 - t0,
            "raw": sec["raw"],
            "grad": sec["grad"],
            "select": t2 - t1 - sec["raw"] - sec["grad"],
            **calls,
        }
    if isinstance(model, SampleModel):
        model.fast_draws, model.coarse_samples = True, COARSE_SAMPLES
        model.polished_restarts, model.polish_maxiter = POLISHED_RESTARTS, POLISH_MAXITER
        model.baseline_once, model.retry_coarse = True, False
        model.greedy_batches = greedy_default
        model.greedy_polish, model.greedy_maxiter = GREEDY_POLISH, GREEDY_MAXITER
        model.greedy_polish_maxiter, model.greedy_restarts = GREEDY_POLISH_MAXITER, GREEDY_RESTARTS
    with torch.no_grad():
        out["value"] = float(reference_acquisition(model, U, Y, seed)(cand.unsqueeze(0)))
    return out, cand


def run(args) -> list[dict]:
    clock = PhaseClock()
    rows = []
    for d in args.dims:
        name, options = PROBLEMS[d]
        problem = get_problem(name, **options)
        for n in args.n:
            for q in args.q:
                for seed in range(args.first_seed, args.first_seed + args.seeds):
                    X = problem.space.sobol(n, seed=seed)
                    U, Y = problem.space.to_unit(X), problem.evaluate(X)
                    seen = set()
                    for sname in args.surrogates:
                        # a surrogate listed twice (gp, to time it before and after the others)
                        again, state = sname in seen, None
                        seen.add(sname)
                        if sname in WARM and not args.cold and n - q >= 2:  # warm start, as in BO
                            sur = get_surrogate(sname)
                            sur.fit(U[: n - q], Y[: n - q], seed=seed + 1)
                            state = sur.state_
                        fits = {}  # "prev" (PREVIOUS settings) or "now" -> (model, seconds)
                        done = []
                        paths = args.paths if sname in SAMPLE_BASED else ["new"]
                        # prev3 after new: it reuses new's search
                        paths = [p for p in paths if p != "prev3"] + (
                            ["prev3"] * (sname in PREVIOUS3 and "prev3" in paths)
                        )
                        if "prev6" in paths:  # only where the fitting code changed; first on odd seeds
                            paths.remove("prev6")
                            paths[:0] = ["prev6"] * (sname in PREVIOUS6 and seed % 2 == 1)
                            paths += ["prev6"] * (sname in PREVIOUS6 and seed % 2 == 0)
                        for path in paths:
                            if path == "prev3":
                                with PREVIOUS3[sname]():
                                    t = time.perf_counter()
                                    model = get_surrogate(sname).fit(U, Y, seed=seed, state=state)
                                    fit = time.perf_counter() - t
                                now = next(r for r in done if r["path"] == "new")
                                if not torch.equal(model.samples, fits["now"][0].samples):
                                    raise RuntimeError(f"{sname}: the prev3 fit differs from the new one")
                                r = {**now, "path": "prev3", "fit": fit}
                                r["total"] = sum(r[p] for p in PHASES)
                                done.append(r)
                                continue
                            version = path if path in ("prev", "variant", "prev6") else "now"
                            if version not in fits:
                                fit_settings = {"prev": PREVIOUS.get(sname, {}), "variant": args.variant}
                                sur = get_surrogate(sname, **fit_settings.get(version, {}))
                                with PREVIOUS6[sname]() if version == "prev6" else contextlib.nullcontext():
                                    t = time.perf_counter()
                                    model = sur.fit(U, Y, seed=seed, state=state)
                                    fits[version] = (model, time.perf_counter() - t)
                            model, fit = fits[version]
                            acq_path = {"prev": PREVIOUS_PATH, "variant": "new", "prev6": "new"}.get(path, path)
                            r, cand = one_path(model, problem.space, U, Y, q, seed, acq_path, clock)
                            label = "again" if again else path
                            r.update(problem=name, d=d, n=n, q=q, seed=seed, surrogate=sname, path=label, fit=fit)
                            r["total"] = sum(r[p] for p in PHASES)
                            # the batch's best true value: what a BO run would record
                            r["true_max"] = float(problem.evaluate(problem.space.from_unit(cand)).max())
                            r["cand"] = cand
                            done.append(r)
                        for r in done:  # every batch under every fit's reference (fits differ: prev)
                            cand = r.pop("cand")
                            with torch.no_grad():
                                r["value_by"] = {
                                    v: float(reference_acquisition(m, U, Y, seed)(cand.unsqueeze(0)))
                                    for v, (m, _) in fits.items()
                                }
                            rows.append(r)
                            print(json.dumps(r), flush=True)
                            if args.out:
                                with open(args.out, "a") as fh:
                                    fh.write(json.dumps(r) + "\n")
    return rows


def summarise(rows: list[dict], base: str = "old") -> None:
    """Medians over seeds of: the phases' seconds; the iteration's time as a ratio to gp's on
    the same data and seed; the acquisition step's (all but the fit) time as a ratio to the
    ``base`` path's; the value reached relative to the base path's (EI ratio, exp of the
    log-EI difference; median and the seeds' range), both batches judged by the base path's
    fit's reference acquisition and ("own fit"), where the fits differ, by the row's; the
    best true objective value among the batch's points."""
    old = base
    by = {(r["d"], r["n"], r["q"], r["seed"], r["surrogate"], r["path"]): r for r in rows}
    groups = defaultdict(list)
    for r in rows:
        groups[(r["d"], r["n"], r["q"], r["surrogate"], r["path"])].append(r)
    print(
        "\n| d | n | q | surrogate | path | seeds | fit | set-up | raw samples | gradient opt. | "
        f"select | total s | acq. calls | x gp (total) | x {old} (acq.) | EI vs {old} | EI vs {old}, own fit "
        "| best f(x) in batch |"
    )
    print("|---:|---:|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for (d, n, q, s, path), rs in groups.items():
        med = {p: statistics.median(r[p] for r in rs) for p in (*PHASES, "total")}
        gp_s = gp_seconds(rows)
        gp = [r["total"] / gp_s[(d, n, q, r["seed"])] for r in rs if (d, n, q, r["seed"]) in gp_s]
        ei = [
            math.exp(_value_under(r, old) - by[(d, n, q, r["seed"], s, old)]["value"])
            for r in rs
            if path != old and (d, n, q, r["seed"], s, old) in by
        ]
        # where the fits differ: the base's batch judged by this row's fit instead
        ei_own = [
            math.exp(r["value"] - b["value_by"]["now"])
            for r in rs
            if path != old and (b := by.get((d, n, q, r["seed"], s, old))) and "now" in b.get("value_by", {})
        ]
        true = statistics.median(r["true_max"] for r in rs) if all("true_max" in r for r in rs) else None
        acq_old = [
            (r["total"] - r["fit"]) / (o["total"] - o["fit"])
            for r in rs
            if path != old and (o := by.get((d, n, q, r["seed"], s, old)))
        ]
        x_gp = f"{statistics.median(gp):.2f}" if gp else ""
        x_old = f"{statistics.median(acq_old):.2f}" if acq_old else ""
        calls = statistics.median(r.get("calls", 0) for r in rs)
        vs_old = f"{statistics.median(ei):.3f} ({min(ei):.3f}-{max(ei):.3f})" if ei else ""
        cells = " | ".join(f"{med[p]:.2f}" for p in (*PHASES, "total"))
        true_cell = "" if true is None else f"{true:.3f}"
        own = f"{statistics.median(ei_own):.3f} ({min(ei_own):.3f}-{max(ei_own):.3f})" if ei_own else ""
        print(
            f"| {d} | {n} | {q} | {s} | {path} | {len(rs)} | {cells} | {calls:.0f} | {x_gp} | {x_old} | {vs_old} "
            f"| {own} | {true_cell} |"
        )


def gp_seconds(rows: list[dict]) -> dict[tuple, float]:
    """gp's iteration per data set ``(d, n, q, seed)``: the mean of its rows (``new``, and
    ``again`` where gp was listed twice to time it before and after the others)."""
    times = defaultdict(list)
    for r in rows:
        if r["surrogate"] == "gp" and r["path"] in ("new", "again"):
            times[(r["d"], r["n"], r["q"], r["seed"])].append(r["total"])
    return {k: statistics.fmean(v) for k, v in times.items()}


#: issue 19's "Done when": the iteration at most this multiple of gp's, values at most 1% below the base's
#: (a higher value, a better batch, passes: the rounds before read "within 1%" so too)
TARGET_X_GP, TARGET_EI = 2.0, 0.01


def verdict(rows: list[dict], base: str, judged: str = "new") -> None:
    """Per sample-based surrogate and ``n`` (q and d as run): the ``judged`` path's iteration as
    a multiple of gp's (median over seeds, range), its value against the ``base`` path's on the
    same data (median EI ratio; where no base row exists the fitting code did not change, so
    new *is* the base) and whether both targets are met."""
    by = {(r["d"], r["n"], r["q"], r["seed"], r["surrogate"], r["path"]): r for r in rows}
    gp_s = gp_seconds(rows)
    cells = defaultdict(lambda: {"x_gp": [], "ei": []})
    for (d, n, q, seed, s, path), r in by.items():
        gp = gp_s.get((d, n, q, seed))
        if s not in SAMPLE_BASED or path != judged or gp is None:
            continue
        c = cells[(d, n, q, s)]
        c["x_gp"].append(r["total"] / gp)
        if (b := by.get((d, n, q, seed, s, base))) is not None:
            c["ei"].append(math.exp(_value_under(r, base) - b["value"]))
    print(f"\nThe `{judged}` path:")
    print(
        f"\n| d | n | q | surrogate | seeds | x gp (median, range) | EI vs {base} (median) "
        f"| x gp <= {TARGET_X_GP:g} | EI no more than {TARGET_EI:.0%} below |"
    )
    print("|---:|---:|---:|---|---:|---:|---:|---|---|")
    for (d, n, q, s), c in sorted(cells.items()):
        x = c["x_gp"]
        med = statistics.median(x)
        if c["ei"]:
            ei = statistics.median(c["ei"])
            ei_cell, ei_ok = f"{ei:.3f}", "yes" if ei >= 1 - TARGET_EI else "no"
        else:
            ei_cell, ei_ok = f"(no {base} row: unchanged)", "yes"
        print(
            f"| {d} | {n} | {q} | {s} | {len(x)} | {med:.2f} ({min(x):.2f}-{max(x):.2f}) | {ei_cell} "
            f"| {'yes' if med <= TARGET_X_GP else 'no'} | {ei_ok} |"
        )


def _value_under(row: dict, base: str) -> float:
    """A row's batch's value under the ``base`` path's fit (its own where the fits are one)."""
    by_fit = row.get("value_by", {})
    return by_fit.get(base if base in ("prev", "prev6", "variant") else "now", row["value"])


def _ints(text: str) -> list[int]:
    return [int(v) for v in text.split(",")]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--surrogates", default=",".join(SURROGATES))
    ap.add_argument("--q", default="1,4,10")
    ap.add_argument("--dims", default="2,6,10,200")
    ap.add_argument("--n", default="10,100", help="training points (>= 2 + q for a warm start)")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--first-seed", type=int, default=0, help="seeds first-seed, first-seed + 1, ...")
    ap.add_argument(
        "--paths",
        default="new,prev",
        help="for sample-based surrogates: new, joint (the joint two-stage search), prev (the defaults before round two: PREVIOUS), "
        "prev3 (the fitting code before round three: PREVIOUS3), prev6 (before round six: PREVIOUS6), variant (a fit with --variant), today, old, "
        "mcK (new with K MC samples), "
        "cK or cKpJ (new with K networks in the first stage, J restarts polished), "
        "iK (new with the polish capped at K L-BFGS-B iterations), pJ (new with J restarts polished), "
        "seq (the batch built greedily on all networks), seqcK / seqcKpJ (greedily, each point by the "
        "two-stage search: K networks first, J restarts polished), seqbRxM (greedily on the first stage's "
        "networks, R restarts and at most M iterations per point, then the batch polished jointly on all; "
        "seqbRxMiK: that polish capped at K iterations)",
    )
    ap.add_argument("--variant", default="", help="settings of the 'variant' path's fit, e.g. pretrain_steps=0")
    ap.add_argument("--base", default="prev", help="the path the others are compared with")
    ap.add_argument("--verdict", action="store_true", help="also print the Done-when verdict per surrogate and n")
    ap.add_argument("--judge", default="new", help="the path the verdict judges (comma-separated: several)")
    ap.add_argument("--cold", action="store_true", help="time cold hmc fits (no warm start)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--quick", action="store_true", help=f"a small grid: {QUICK}")
    ap.add_argument("--out", help="append each row as JSON to this file")
    ap.add_argument(
        "--summarise",
        nargs="+",
        metavar="JSONL",
        help="print the tables of earlier runs' --out files instead of running",
    )
    args = ap.parse_args()
    if args.summarise:
        rows = []
        for path in args.summarise:
            with open(path) as fh:
                rows += [json.loads(line) for line in fh if line.strip()]
        summarise(rows, args.base)
        if args.verdict:
            for judged in args.judge.split(","):
                verdict(rows, args.base, judged)
        return
    if args.quick:
        for k, v in QUICK.items():
            setattr(args, k, v)
    args.surrogates = args.surrogates.split(",")
    args.variant = settings(args.variant)
    args.paths = args.paths.split(",")
    if any(args.surrogates.count(s) > 1 for s in SAMPLE_BASED):
        ap.error("only surrogates without sample-based paths may be listed twice")
    for bad in set(args.surrogates) - set(SURROGATES):
        ap.error(f"unknown surrogate {bad!r}; expected some of {SURROGATES}")
    for bad in {
        p
        for p in args.paths
        if p not in ("new", "joint", "old", "today", "prev", "prev3", "prev6", "variant", "seq")
        and not (p[:2] == "mc" and p[2:].isdigit())
        and not (p[:1] == "c" and p[1:].replace("p", "", 1).isdigit())
        and not (p[:4] == "seqc" and p[4:].replace("p", "", 1).isdigit())
        and not (p[:4] == "seqb" and p[4:].replace("x", "", 1).replace("i", "", 1).isdigit() and "x" in p)
        and not (p[:1] in "ip" and p[1:].isdigit())
    }:
        ap.error(
            f"unknown path {bad!r}; expected 'new', 'prev', 'prev3', 'prev6', 'today', 'old', 'mcK', 'cK', 'cKpJ', 'iK', "
            "'pJ', 'seq', 'seqcK', 'seqcKpJ', 'seqbRxM' or 'seqbRxMiK'"
        )
    args.q, args.dims, args.n = _ints(args.q), _ints(args.dims), _ints(args.n)
    for bad in set(args.dims) - set(PROBLEMS):
        ap.error(f"no problem for dimension {bad}; expected some of {sorted(PROBLEMS)}")
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} thread(s); grid: {vars(args)}")
    rows = run(args)
    summarise(rows, args.base)
    if args.verdict:
        verdict(rows, args.base)


if __name__ == "__main__":
    main()
