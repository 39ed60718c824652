"""Does ``auto`` beat each of its candidates across the suite? (issue 17's measurement)

Runs ``auto`` and every one of its candidates (``AutoSettings().candidates``) through bnnbo's public
ask/tell loop (``Optimizer.for_problem``) on each problem for several seeds. A seed gives every method the
same initial design. Methods run interleaved (seed-major, then problem, then method) in one process, so
timings are side by side and a partial run still covers every method on the seeds it reached.

Each finished run is appended at once to the store (JSON lines): final simple regret (one objective) or
dominated hypervolume (several), per-iteration fit and acquisition seconds, and, for ``auto``, its
per-iteration choice, weights (where it reports them) and candidate scores. Runs already stored are
skipped, so an interrupted benchmark resumes. ``doc`` writes docs/auto.md from the store alone.

    OMP_NUM_THREADS=1 python benchmarks/auto_suite.py run --problems branin,hartmann6 --seeds 0-9
    python benchmarks/auto_suite.py run --problems all --seeds 0-9 --until 05:50
    python benchmarks/auto_suite.py doc
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # before numpy / torch are imported

import argparse
import calendar
import json
import math
import shlex
import statistics
import sys
import time
import traceback
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bnnbo import Optimizer, get_problem, get_surrogate, version
from bnnbo.metrics import progress_trace
from bnnbo.report.diagnostics import used_candidate
from bnnbo.space import DTYPE
from bnnbo.surrogates.combined.auto import AutoSettings
from bnnbo.surrogates.scoring import surrogate_name

STORE = ROOT / "benchmarks" / "results" / "auto_suite.jsonl"
DOC = ROOT / "docs" / "auto.md"
ARCHIVE = ROOT / "benchmarks" / "results" / "auto_suite-old.jsonl"  # rows made at older code
MIN_SEEDS = 10  # the bar for the synthetic problems
FEW_SEEDS = 3  # a problem with fewer seeds is named beside the mean rank it still counts in


@dataclass(frozen=True)
class ProblemSpec:
    factory: str
    options: dict
    n_init: int
    budget: int
    note: str = ""
    #: real-world-ish (pest, oil): the issue's seed bar is for the synthetic problems only
    real: bool = False

    def build(self):
        return get_problem(self.factory, **self.options)


PROBLEMS = {
    "branin": ProblemSpec("branin", {}, 10, 30),
    "hartmann6": ProblemSpec("hartmann6", {}, 12, 50),
    "ackley10": ProblemSpec("ackley", {"dim": 10}, 20, 80),
    "branincurrin": ProblemSpec("branincurrin", {}, 10, 40, "two objectives: hypervolume"),
    "dtlz1": ProblemSpec("dtlz1", {}, 10, 40, "two objectives: hypervolume"),
    "pest": ProblemSpec("pest", {}, 20, 60, "25 categorical inputs; optimum unknown", real=True),
    "oil": ProblemSpec("oil", {}, 20, 50, "mixed inputs, three objectives: hypervolume", real=True),
    "poly200": ProblemSpec("poly", {"dim": 200}, 20, 40, "200-D, short budget"),
}


#: other settings of ``auto``, measured beside it: method name -> its settings
VARIANTS: dict[str, dict] = {
    "auto-recent": {"holdout": "recent", "metric": "lpd"},  # auto's default before prequential CRPS
    "auto-preq": {"metric": "lpd"},
    "auto-preq-mse": {"metric": "mse"},
    "auto-preq-crps-f09": {"forget": 0.9},
    "auto-preq-crps-f07": {"forget": 0.7},
    # issue 17's "mixing instead of choosing" (docs/auto_mix.md): the weighted mixture of the
    # candidates' posteriors, weights from the accumulated CRPS (Gibbs) or log densities (pseudo-BMA)
    "auto-mix": {"combine": "mix"},
    "auto-mix-lpd": {"combine": "mix", "mix_weights": "lpd"},
    # the first candidate (gp) serves until the candidates have predicted 10 acquired points: most
    # ibnn choices came from the first fits' seeding hold-out (branin seed 3: ibnn from the first)
    "auto-evidence-10": {"min_evidence": 10},
    # the GP under three prior means as the candidates (docs/performance.md, issue 20 round 10:
    # the constant mean is best inside the cube, the zero mean on its bounds, the signed
    # quadratic where the values form a bowl); each with the loop's output warp
    "auto-means": {
        "candidates": ("gp", "gp/zero", "gp/quadratic"),
        "candidate_settings": {
            "gp/zero": {"mean": "zero", "output_warp": "auto"},
            "gp/quadratic": {"mean": "quadratic-signed", "output_warp": "auto"},
        },
    },
    # cost awareness: the candidates that do not serve refitted every 4th fit only
    "auto-refresh-4": {"refresh": 4},
    # issue 17's "choosing by outcome": GP-Hedge over the candidates' proposals (one objective)
    "auto-hedge": {"combine": "hedge"},
}


#: single GPs measured beside auto: method name -> the GP's settings (the loop adds its output
#: warp as it does for ``gp``): the candidates of ``auto-means`` other than ``gp``
GP_VARIANTS: dict[str, dict] = {
    "gp-zero": {"mean": "zero"},
    "gp-quadratic": {"mean": "quadratic-signed"},
}


#: auto candidate labels measured alone under another method name
CANDIDATE_METHODS = {"gp/zero": "gp-zero", "gp/quadratic": "gp-quadratic"}


def variant_candidates(variant: str) -> list[str]:
    """The methods that are ``variant``'s candidates when run alone (auto's own by default)."""
    labels = VARIANTS[variant].get("candidates", AutoSettings().candidates)
    return [CANDIDATE_METHODS.get(label, surrogate_name(label)) for label in labels]


def commit_counts(runs) -> dict[str, int]:
    """Runs per bnnbo commit (12 characters, "+dirty" kept), "unknown" where none was recorded."""
    commits: dict[str, int] = {}
    for r in runs:
        c = r.get("bnnbo_commit") or "unknown"
        c = c[:12] + ("+dirty" if c.endswith("+dirty") else "")
        commits[c] = commits.get(c, 0) + 1
    return commits


def methods() -> list[str]:
    """``auto``, each of its default candidates (registered surrogate names), then the variants."""
    return ["auto", *(surrogate_name(c) for c in AutoSettings().candidates), *VARIANTS, *GP_VARIANTS]


def _surrogate(method: str):
    """What ``Optimizer`` gets for a method: a registered name, or ``auto`` with a variant's settings."""
    if method in GP_VARIANTS:
        return get_surrogate("gp", **GP_VARIANTS[method])
    return get_surrogate("auto", **VARIANTS[method]) if method in VARIANTS else method


def run_key(row: dict) -> tuple:
    return (row["problem"], row["method"], row["seed"], row["n_init"], row["budget"])


def load_store(path: Path) -> list[dict]:
    if not path.exists():
        return []
    rows = []
    for line in path.read_text().splitlines():
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:  # a line cut by a kill mid-write: that run is redone
                continue
    return rows


def _auto_iteration(diag: dict) -> dict:
    """What ``auto`` reported for one iteration (plain numbers and labels only)."""
    keep = ("choice", "weights", "served", "scores", "scored", "seconds", "scoring_seconds", "hedge")
    return {k: diag[k] for k in keep if k in diag}


def code_commit() -> str | None:
    """The repository's HEAD, with ``+dirty`` when bnnbo/ or this script has uncommitted changes."""
    return version.code_commit("benchmarks/auto_suite.py")


def run_one(problem_name: str, method: str, seed: int, q: int = 1) -> dict:
    spec = PROBLEMS[problem_name]
    row: dict = {
        "problem": problem_name,
        "method": method,
        "seed": seed,
        "q": q,
        "n_init": spec.n_init,
        "budget": spec.budget,
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "loadavg": os.getloadavg()[0],
        "torch_threads": torch.get_num_threads(),
        "bnnbo_commit": code_commit(),
    }
    problem = spec.build()
    torch.manual_seed(seed)
    t0 = time.perf_counter()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            opt = Optimizer.for_problem(problem, _surrogate(method), seed=seed, q=q, n_init=spec.n_init)
            while opt.n_told < spec.budget:
                k = min(spec.n_init if opt.n_told < spec.n_init else q, spec.budget - opt.n_told)
                X = opt.ask(k)
                opt.tell(X, problem.evaluate(X.to(DTYPE)))
    except Exception as exc:  # noqa: BLE001 - one failing run is recorded, the others go on
        return {**row, "status": "error", "reason": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()}
    wall = time.perf_counter() - t0
    Y_max = opt.to_max(opt.Y)
    trace = progress_trace(Y_max, problem.ref_point).tolist()
    iters = {}
    for e in opt.history:  # one entry per model-based ask (a batch shares its timings)
        if not e.initial and e.batch not in iters:
            iters[e.batch] = e
    steps = [iters[b] for b in sorted(iters)]
    row.update(
        status="ok",
        objectives=problem.num_objectives,
        optimal_value=problem.optimal_value,
        trace=trace,
        final=trace[-1],
        fit_seconds=[e.fit_seconds for e in steps],
        acq_seconds=[e.acq_seconds for e in steps],
        wall_seconds=wall,
    )
    if surrogate_name(method) == "auto" or method in VARIANTS:
        row["auto"] = [_auto_iteration(e.diagnostics) for e in steps]
    return row


def parse_seeds(text: str) -> list[int]:
    seeds: list[int] = []
    try:
        for part in text.split(","):
            lo, _, hi = part.partition("-")
            seeds.extend(range(int(lo), int(hi or lo) + 1))
    except ValueError:
        raise SystemExit(f"--seeds {text!r}: expected e.g. 0-9 or 0,3,5") from None
    return seeds


def parse_until(text: str | None) -> float | None:
    """``HH:MM`` (UTC, its next occurrence) as a POSIX time, or None."""
    if not text:
        return None
    try:
        hh, mm = (int(v) for v in text.split(":"))
        if not (0 <= hh < 24 and 0 <= mm < 60):
            raise ValueError
    except ValueError:
        raise SystemExit(f"--until {text!r}: expected HH:MM (UTC), e.g. 05:10") from None
    now = time.gmtime()
    when = calendar.timegm((now.tm_year, now.tm_mon, now.tm_mday, hh, mm, 0))
    return when if when > time.time() else when + 86400  # the next such time: past midnight too


def pick(text: str, allowed: list[str], what: str) -> list[str]:
    if text == "all":
        return list(allowed)
    names = [t.strip() for t in text.split(",") if t.strip()]
    bad = [n for n in names if n not in allowed]
    if bad or not names:
        raise SystemExit(f"unknown {what} {bad or text!r}; expected 'all' or some of: {', '.join(allowed)}")
    return names


def cmd_run(args) -> None:
    problems = pick(args.problems, list(PROBLEMS), "problem(s)")
    chosen = pick(args.methods, methods(), "method(s)")
    seeds = parse_seeds(args.seeds)
    until = parse_until(args.until)
    store = Path(args.store)
    store.parent.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)
    for seed in seeds:
        for problem in problems:
            for method in chosen:
                if until is not None and time.time() >= until:
                    print(f"stopping: it is past --until {args.until}; finished runs are stored", flush=True)
                    return
                spec = PROBLEMS[problem]
                key = (problem, method, seed, spec.n_init, spec.budget)
                if key in {run_key(r) for r in load_store(store) if r["status"] == "ok"}:
                    continue
                row = run_one(problem, method, seed)
                with store.open("a") as fh:  # one line per finished run, written at once
                    fh.write(json.dumps(row) + "\n")
                msg = row.get("final", row.get("reason", ""))
                print(f"{problem:12s} {method:6s} seed {seed}: {row['status']} {msg}", flush=True)


# ---- the document -------------------------------------------------------------------------------
def _fmt(x: float | None) -> str:
    if x is None or math.isnan(x):
        return "-"
    x = x + 0.0  # no "-0"
    return f"{x:.3g}" if abs(x) >= 1e-3 or x == 0 else f"{x:.2e}"


def _mean_se(values: list[float]) -> tuple[float, float]:
    se = statistics.stdev(values) / math.sqrt(len(values)) if len(values) > 1 else float("nan")
    return statistics.fmean(values), se


def _values(rows: list[dict]) -> tuple[dict[str, dict[int, float]], bool, str]:
    """Per method and seed the final metric, whether lower is better, and the metric's name."""
    multi = rows[0]["objectives"] > 1
    best = rows[0].get("optimal_value")
    ref = "the known optimum"
    if not multi and best is None:
        best, ref = max(r["final"] for r in rows), "the best value any run found (optimum unknown)"
    out: dict[str, dict[int, float]] = {}
    for r in rows:
        out.setdefault(r["method"], {})[r["seed"]] = r["final"] if multi else best - r["final"]
    name = "final hypervolume (higher is better)" if multi else f"final simple regret to {ref} (lower is better)"
    return out, not multi, name


def _ranks(means: dict[str, float], lower: bool) -> dict[str, float]:
    """Average ranks (1 = best; ties share their mean rank)."""
    order = sorted(means, key=lambda m: means[m] if lower else -means[m])
    ranks: dict[str, float] = {}
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and means[order[j + 1]] == means[order[i]]:
            j += 1
        for m in order[i : j + 1]:
            ranks[m] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def _worse(a: dict[int, float], b: dict[int, float], lower: bool) -> float | None:
    """One-sided paired Wilcoxon p-value that ``a`` is worse than ``b`` over their common seeds."""
    from scipy.stats import wilcoxon

    seeds = sorted(set(a) & set(b))
    d = [(a[s] - b[s]) if lower else (b[s] - a[s]) for s in seeds]
    if len(d) < 2 or all(x == 0 for x in d):
        return None
    return float(wilcoxon(d, alternative="greater").pvalue)


def render(rows: list[dict], command: str, store: str = "benchmarks/results/auto_suite.jsonl") -> str:
    ok = [r for r in rows if r["status"] == "ok"]
    seen: set[tuple] = set()
    runs = []
    for r in ok:  # a run stored twice counts once
        if run_key(r) not in seen:
            seen.add(run_key(r))
            runs.append(r)
    other = {**VARIANTS, **GP_VARIANTS}
    variants = [m for m in methods() if m in other and any(r["method"] == m for r in runs)]
    all_methods = [m for m in methods() if m not in other and any(r["method"] == m for r in runs)]
    candidates = [m for m in all_methods if m != "auto"]
    problems = [p for p in PROBLEMS if any(r["problem"] == p for r in runs)]
    lines = [
        "# auto across the suite",
        "",
        f"Generated by `benchmarks/auto_suite.py doc` from `{store}`; do not edit by hand.",
        "",
        f"Produced by: `{_run_command(runs)}`, then `{command}`",
        "",
        f"`auto` (candidates: {', '.join(AutoSettings().candidates)}; held-out points "
        f"`{AutoSettings().holdout}`, metric `{AutoSettings().metric}`) against each of its candidates, through "
        "bnnbo's ask/tell loop with its default acquisition, q = 1. A seed gives every method the same initial "
        "design. Each run had one torch thread, on a machine shared with other work; the methods' runs may come "
        "from different invocations (the commits per method are listed below), so times from separate runs "
        "compare only roughly: the like-for-like table below times auto's candidates inside auto's own fits. "
        "With several objectives auto gets sampled "
        "qLogNEHVI whatever it chose; serving gp's analytic LogEHVI when it chose gp was measured and not kept: "
        "docs/auto_mo_serving.md.",
        "",
    ]
    if not runs:
        return "\n".join([*lines, "No finished runs in the store yet.", ""])
    commits = commit_counts(runs)
    lines += [
        "Rows were made at bnnbo commit(s): "
        + "; ".join(f"{c} ({n} runs)" for c, n in sorted(commits.items()))
        + (
            " (+dirty: bnnbo/ or this script had uncommitted changes when the run started)."
            if any(c.endswith("+dirty") for c in commits)
            else "."
        ),
        "",
    ]
    run_methods = sorted({r["method"] for r in runs})
    lines += [
        "Per method: "
        + "; ".join(
            f"{m}: "
            + ", ".join(f"{c} ({n})" for c, n in sorted(commit_counts([r for r in runs if r["method"] == m]).items()))
            for m in run_methods
        )
        + ".",
        "",
    ]
    if ARCHIVE.exists() and not store.endswith(ARCHIVE.name):
        lines += [
            f"Rows made at older code are kept in `{ARCHIVE.relative_to(ROOT)}` and are not used here "
            "(`doc --store` renders them).",
            "",
        ]
    renamed: dict[tuple[str, str], int] = {}
    for r in runs:
        if r.get("method_as_run", r["method"]) != r["method"]:
            key = (r["method_as_run"], r["method"])
            renamed[key] = renamed.get(key, 0) + 1
    if renamed:
        moves = "; ".join(f"{n} run(s) stored as `{a}` are shown as `{b}`" for (a, b), n in sorted(renamed.items()))
        lines += [
            f"Renamed rows (the settings a row ran with are what its name means today): {moves}. "
            "The default of `auto` changed after they ran; `method_as_run` in the store keeps the old name.",
            "",
        ]
    per_problem: dict[str, dict] = {}
    min_seeds = None
    for p in problems:
        vals, lower, name = _values([r for r in runs if r["problem"] == p])  # one reference for every row
        vals = {m: v for m, v in vals.items() if m in all_methods}
        common = sorted(set.intersection(*(set(v) for v in vals.values())))
        if not common or set(vals) != set(all_methods):
            continue
        if not (p in PROBLEMS and PROBLEMS[p].real):
            min_seeds = len(common) if min_seeds is None else min(min_seeds, len(common))
        means = {m: statistics.fmean(vals[m][s] for s in common) for m in all_methods}
        per_problem[p] = {"vals": vals, "lower": lower, "name": name, "seeds": common, "means": means}
    provisional = min_seeds is None or min_seeds < MIN_SEEDS
    if provisional:
        lines += [
            f"**Provisional: {min_seeds or 0} seed(s)** on a synthetic problem (the issue asks for at least {MIN_SEEDS}).",
            "",
        ]
    missing = [p for p in PROBLEMS if p not in per_problem]
    if missing:
        lines += [f"**Partial:** no complete results for {', '.join(missing)}.", ""]

    ranks = {p: _ranks(d["means"], d["lower"]) for p, d in per_problem.items()}
    mean_rank = {m: statistics.fmean(ranks[p][m] for p in per_problem) for m in all_methods} if per_problem else {}
    lines += ["## Mean rank across problems", "", "Rank of each method's mean final metric per problem (1 = best).", ""]
    lines += ["| method | mean rank | problems |", "|---|---|---|"]
    for m in sorted(mean_rank, key=mean_rank.get):
        lines.append(f"| {m} | {mean_rank[m]:.2f} | {len(per_problem)} |")
    lines.append("")
    # a problem with very few seeds counts fully in the mean rank: say how much it weighs
    thin = [p for p, d in per_problem.items() if len(d["seeds"]) < FEW_SEEDS]
    if thin and len(thin) < len(per_problem):
        rest = [p for p in per_problem if p not in thin]
        without = {m: statistics.fmean(ranks[p][m] for p in rest) for m in all_methods}
        lines += [
            f"Problems with fewer than {FEW_SEEDS} seeds count as much as the others here: "
            + ", ".join(f"{p} ({len(per_problem[p]['seeds'])} seed(s))" for p in thin)
            + ". Without them the mean ranks are "
            + ", ".join(f"{m} {without[m]:.2f}" for m in sorted(without, key=without.get))
            + ".",
            "",
        ]

    lines += ["## Per problem", ""]
    significant: dict[str, str] = {}
    for p, d in per_problem.items():
        spec = PROBLEMS[p]
        note = f" ({spec.note})" if spec.note else ""
        lines += [
            f"### {p}",
            "",
            f"`{spec.factory}`{' ' + json.dumps(spec.options) if spec.options else ''}{note}; {spec.n_init} initial "
            f"points, budget {spec.budget}; "
            f"{len(d['seeds'])} seeds. Metric: {d['name']}.",
            "",
            "| method | mean +- SE | rank | fit s / iter | acq s / iter |",
            "|---|---|---|---|---|",
        ]
        for m in all_methods:
            mean, se = _mean_se([d["vals"][m][s] for s in d["seeds"]])
            fit, acq = _per_iter([r for r in runs if r["problem"] == p and r["method"] == m], d["seeds"])
            lines.append(f"| {m} | {_fmt(mean)} +- {_fmt(se)} | {ranks[p][m]:g} | {_fmt(fit)} | {_fmt(acq)} |")
        lines.append("")
        if "auto" in all_methods and candidates:
            best = min(candidates, key=lambda c: ranks[p][c])
            pval = _worse(d["vals"]["auto"], d["vals"][best], d["lower"])
            significant[p] = best if pval is not None and pval < 0.05 else ""
            floor = 0.5 ** len(d["seeds"])  # the smallest p the exact test can give with this many seeds
            lines += [
                f"auto against the best candidate here ({best}): one-sided paired Wilcoxon p = {_fmt(pval)}"
                f" ({'significantly worse' if significant[p] else 'not significantly worse'} at 0.05; with "
                f"{len(d['seeds'])} seeds the test cannot give p below {_fmt(floor)}).",
                "",
            ]
            picks = _choices([r for r in runs if r["problem"] == p and r["method"] == "auto"])
            if picks:
                lines += [f"auto's choices over its iterations: {picks}.", ""]

    lines += [
        "## Time per iteration",
        "",
        "Mean seconds per BO iteration over all problems' common seeds, each method in its own runs (so on "
        "its own points: not like for like; the next table is).",
        "",
    ]
    lines += ["| method | fit s / iter | acq s / iter |", "|---|---|---|"]
    fit_all: dict[str, float] = {}
    budget_label = " + ".join(candidates)
    for m in all_methods:
        fits = [r["fit_seconds"] for r in runs if r["method"] == m and r["problem"] in per_problem]
        acqs = [r["acq_seconds"] for r in runs if r["method"] == m and r["problem"] in per_problem]
        fit_all[m] = statistics.fmean(x for f in fits for x in f) if any(fits) else float("nan")
        acq = statistics.fmean(x for a in acqs for x in a) if any(acqs) else float("nan")
        lines.append(f"| {m} | {_fmt(fit_all[m])} | {_fmt(acq)} |")
    lines.append("")
    if "auto" in fit_all and candidates:
        ratio = fit_all["auto"] / sum(fit_all[c] for c in candidates)
        lines += [f"auto's fit time per iteration / ({budget_label})'s, from these separate runs: {ratio:.2f}.", ""]
    same = _same_data_cost([r for r in runs if r["method"] == "auto" and r["problem"] in per_problem])
    lines += _same_data_section(same, candidates)

    lines += _variants_section(runs, variants, per_problem)
    lines += _target(mean_rank, significant, fit_all, candidates, provisional, min_seeds, same)
    return "\n".join(lines)


def _same_data_cost(rows: list[dict]) -> dict | None:
    """auto's fit seconds per iteration beside its candidates' fits inside the same calls (same data,
    same process), from the runs that recorded them; None if none did."""
    its = [(f, it) for r in rows for f, it in zip(r["fit_seconds"], r.get("auto", [])) if "seconds" in it]
    if not its:
        return None
    labels = sorted({c for _, it in its for c in it["seconds"]})
    out = {
        "iterations": len(its),
        "runs": sum(any("seconds" in it for it in r.get("auto", [])) for r in rows),
        "auto": statistics.fmean(f for f, _ in its),
        # over the fits that refitted it (every fit, unless ``refresh`` > 1 skipped some)
        "candidates": {c: statistics.fmean(it["seconds"][c] for _, it in its if c in it["seconds"]) for c in labels},
        "scoring": statistics.fmean(it.get("scoring_seconds", 0.0) for _, it in its),
        "scoring_first": statistics.fmean(its[i][1].get("scoring_seconds", 0.0) for i in _firsts(rows)),
    }
    out["sum"] = sum(out["candidates"].values())
    return out


def _firsts(rows: list[dict]) -> list[int]:
    """Indices, in ``_same_data_cost``'s flat list, of each run's first iteration."""
    idx, i = [], 0
    for r in rows:
        n = sum(1 for f, it in zip(r["fit_seconds"], r.get("auto", [])) if "seconds" in it)
        if n:
            idx.append(i)
        i += n
    return idx


def _same_data_section(same: dict | None, candidates: list[str]) -> list[str]:
    if same is None:
        return []
    lines = [
        "Like for like: in each of auto's fits, the time of each candidate's own fit on the same data "
        f"(recorded by auto; {same['runs']} runs, {same['iterations']} iterations). What auto adds is the "
        "scoring: the previous models' predictions at the new points, and at a run's first fit the hold-out "
        "fits that seed the scores.",
        "",
        "| | s / iter |",
        "|---|---|",
        f"| auto's fit | {_fmt(same['auto'])} |",
        *(f"| {c}'s fit inside it | {_fmt(v)} |" for c, v in same["candidates"].items()),
        f"| candidates' sum | {_fmt(same['sum'])} |",
        f"| scoring (all iterations) | {_fmt(same['scoring'])} |",
        f"| scoring at a run's first fit (seeding) | {_fmt(same['scoring_first'])} |",
        "",
        f"auto's fit / its candidates' fits on the same data: {same['auto'] / same['sum']:.3f}.",
        "",
        "Before and after the scoring change, replayed side by side in one process: docs/auto_cost.md "
        "(`benchmarks/auto_cost.py`). The candidates that do not serve refitted every 4th fit only "
        "(`refresh`), in BO runs: docs/auto_refresh.md. Choosing by outcome (GP-Hedge over the candidates' "
        'proposals, `combine="hedge"`): docs/auto_hedge.md.',
        "",
    ]
    return lines


def _variants_section(runs: list[dict], variants: list[str], per_problem: dict) -> list[str]:
    """Other settings of ``auto`` on the seeds they ran, beside ``auto`` and ``gp`` on the same seeds."""
    if not variants:
        return []
    lines = [
        "## Other settings of auto, and single GPs",
        "",
        "Measured beside the default on some problems and seeds; each row compares with auto and gp "
        "on the same seeds (not part of the ranks above).",
        "",
        *(
            f"- `{v}`: {json.dumps(VARIANTS[v])}" if v in VARIANTS else f"- `{v}`: gp with {json.dumps(GP_VARIANTS[v])}"
            for v in variants
        ),
        "",
        "| problem | method | seeds | mean +- SE | auto, same seeds | gp, same seeds |",
        "|---|---|---|---|---|---|",
    ]
    for p in PROBLEMS:
        rows = [r for r in runs if r["problem"] == p]
        if not rows:
            continue
        vals, _, _ = _values(rows)
        for v in variants:
            if v not in vals:
                continue
            seeds = sorted(vals[v])
            cells = []
            for m in (v, "auto", "gp"):
                common = [s for s in seeds if s in vals.get(m, {})]
                if len(common) == len(seeds):
                    mean, se = _mean_se([vals[m][s] for s in seeds])
                    cells.append(f"{_fmt(mean)} +- {_fmt(se)}")
                else:
                    cells.append("-")
            lines.append(f"| {p} | {v} | {_ranges(seeds)} | {' | '.join(cells)} |")
    lines.append("")
    return lines


def _ranges(seeds: list[int]) -> str:
    parts, i = [], 0
    while i < len(seeds):
        j = i
        while j + 1 < len(seeds) and seeds[j + 1] == seeds[j] + 1:
            j += 1
        parts.append(str(seeds[i]) if i == j else f"{seeds[i]}-{seeds[j]}")
        i = j + 1
    return ",".join(parts)


def _run_command(runs: list[dict]) -> str:
    """A run command that makes every stored run (worked out from the store, not typed)."""
    problems = [p for p in PROBLEMS if any(r["problem"] == p for r in runs)]
    chosen = [m for m in methods() if any(r["method"] == m for r in runs)]
    seeds = sorted({r["seed"] for r in runs})
    return (
        f"OMP_NUM_THREADS=1 python benchmarks/auto_suite.py run --problems {','.join(problems) or 'none'} "
        f"--methods {','.join(chosen) or 'none'} --seeds {_ranges(seeds) or 'none'}"
    )


def _per_iter(rows: list[dict], seeds: list[int]) -> tuple[float, float]:
    chosen = [r for r in rows if r["seed"] in seeds]
    fit = [x for r in chosen for x in r["fit_seconds"]]
    acq = [x for r in chosen for x in r["acq_seconds"]]
    return (statistics.fmean(fit) if fit else float("nan"), statistics.fmean(acq) if acq else float("nan"))


def _choices(rows: list[dict]) -> str:
    counts: dict[str, int] = {}
    for r in rows:
        for it in r.get("auto", []):
            if (label := used_candidate(it)) is not None:
                counts[label] = counts.get(label, 0) + 1
    return ", ".join(f"{c} {n}" for c, n in sorted(counts.items(), key=lambda kv: -kv[1]))


def _target(mean_rank, significant, fit_all, candidates, provisional, min_seeds, same=None) -> list[str]:
    lines = [
        "## Target (issue 17)",
        "",
        "`auto`'s mean rank across the problems is the best of all methods; it is never significantly worse than "
        "the best single candidate on any problem; and its fit time per iteration is at most the sum of its "
        "candidates' fit times per iteration.",
        "",
    ]
    if "auto" not in mean_rank or not candidates:
        return [*lines, "Not measured: the store lacks auto or its candidates on a complete problem.", ""]
    best_rank = min(mean_rank.values())
    rank_ok = mean_rank["auto"] == best_rank and sum(v == best_rank for v in mean_rank.values()) == 1
    worse = [p for p, c in significant.items() if c]
    if same is not None:  # like for like: the candidates' fits on auto's own data, in the same calls
        auto_fit, budget, how = same["auto"], same["sum"], "on the same data"
    else:
        auto_fit, budget, how = fit_all["auto"], sum(fit_all[c] for c in candidates), "from separate runs"
    cost_ok = auto_fit <= budget
    met = rank_ok and not worse and cost_ok
    lines += [
        f"- Mean rank: auto {mean_rank['auto']:.2f}, best {best_rank:.2f} (auto must be best alone) -> "
        f"{'met' if rank_ok else 'not met'}.",
        f"- Significantly worse than the best candidate on: {', '.join(worse) or 'none'} -> "
        f"{'not met' if worse else 'met'}.",
        f"- Fit s / iter ({how}): auto {_fmt(auto_fit)}, candidates' sum {_fmt(budget)} -> "
        f"{'met' if cost_ok else 'not met'}."
        + (
            " With every candidate refitted at every fit, auto's fit is its candidates' fits plus the scoring, "
            "so this line can hold only when the candidates that do not serve are refitted less often "
            "(`refresh` > 1: docs/auto_refresh.md)."
            if same is not None and not cost_ok
            else ""
        ),
        "",
        f"**Outcome: target {'met' if met else 'not met'}"
        + (f" (provisional: {min_seeds} seeds)" if provisional else "")
        + ".**",
        "",
    ]
    return lines


def cmd_doc(args) -> None:
    rows = load_store(Path(args.store))
    command = "python benchmarks/auto_suite.py " + " ".join(shlex.quote(a) for a in args.argv)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    try:
        label = str(Path(args.store).resolve().relative_to(ROOT))
    except ValueError:
        label = args.store
    tmp.write_text(render(rows, command, label) + "\n")
    os.replace(tmp, out)
    print(f"wrote {out}")


# ---- a variant against auto and its candidates on the variant's own seeds ----------------------
def render_variants(rows: list[dict], variants: list[str], command: str, stores: list[str]) -> str:
    """Each variant beside ``auto`` and its candidates on the seeds the variant ran (per problem),
    from several stores (e.g. the suite's and a variant's own); a run stored twice counts once."""
    seen: set[tuple] = set()
    runs = []
    for r in rows:
        if r["status"] == "ok" and run_key(r) not in seen:
            seen.add(run_key(r))
            runs.append(r)
    lines = [
        "# auto: variants against auto and its candidates (issue 17)",
        "",
        f"Generated by `{command}` from {', '.join(f'`{s}`' for s in stores)}; do not edit by hand.",
        "",
        "Each variant of `auto` against `auto` (choose) and the variant's candidates (auto's unless it names "
        "its own) on the seeds the variant ran, "
        "problem by problem (same initial design per seed). Rank: of the mean final metric among the methods "
        "in the table (1 = best). p: one-sided paired Wilcoxon, the variant worse than the best candidate "
        "on those seeds. Times are seconds per BO iteration from separate runs on a machine shared with other "
        "work (the rows were not made side by side, so only large differences mean anything).",
        "",
        *(f"- `{v}`: {json.dumps(VARIANTS[v])}" for v in variants),
        "",
        "Produced by:",
        "",
        *(
            f"    {_run_command(store_rows)} --store {store}"
            for store in stores
            if (store_rows := [r for r in runs if r.get("_store") == store])
        ),
        "",
    ]
    commits = commit_counts(r for r in runs if r["method"] in variants)
    others = commit_counts(r for r in runs if r["method"] not in variants)
    lines += [
        "The variants' rows were made at bnnbo commit(s) "
        + "; ".join(f"{c} ({n} runs)" for c, n in sorted(commits.items()))
        + "; the other rows at the commits docs/auto.md lists.",
        "",
    ]
    if not set(commits) & set(others):
        lines += [
            "**The variants ran at other code than the rows they are compared with**: a difference below may "
            "come from the code between those commits (e.g. a default of the GP), not only from the variant's "
            "setting.",
            "",
        ]
    summary: dict[str, dict[str, list]] = {}
    for v in variants:
        base = ["auto", *variant_candidates(v)]
        candidates = base[1:]
        summary[v] = {"ranks": [], "worse": [], "problems": [], "base": base}
        lines += [f"## {v}", ""]
        for p in PROBLEMS:
            prow = [r for r in runs if r["problem"] == p]
            if not any(r["method"] == v for r in prow):
                continue
            vals, lower, name = _values(prow)
            methods_here = [m for m in [*base, v] if m in vals]
            seeds = sorted(set.intersection(*(set(vals[m]) for m in methods_here)))
            if set(methods_here) != {*base, v} or len(seeds) < 2:
                lines += [f"{p}: too few seeds with every method ({len(seeds)}).", ""]
                continue
            means = {m: statistics.fmean(vals[m][s] for s in seeds) for m in methods_here}
            ranks = _ranks(means, lower)
            best = min(candidates, key=lambda c: ranks[c])
            pval = _worse(vals[v], {s: vals[best][s] for s in seeds}, lower)
            pauto = _worse(vals[v], {s: vals["auto"][s] for s in seeds}, lower)
            summary[v]["ranks"].append(ranks)
            summary[v]["problems"].append(p)
            if pval is not None and pval < 0.05:
                summary[v]["worse"].append(p)
            lines += [
                f"### {p}",
                "",
                f"Seeds {_ranges(seeds)} ({len(seeds)}). Metric: {name}.",
                "",
                "| method | mean +- SE | rank | fit s / iter | acq s / iter |",
                "|---|---|---|---|---|",
            ]
            for m in methods_here:
                mean, se = _mean_se([vals[m][s] for s in seeds])
                fit, acq = _per_iter([r for r in prow if r["method"] == m], seeds)
                lines.append(f"| {m} | {_fmt(mean)} +- {_fmt(se)} | {ranks[m]:g} | {_fmt(fit)} | {_fmt(acq)} |")
            its = [it for r in prow if r["method"] == v and r["seed"] in seeds for it in r.get("auto", [])]
            mixed = [it for it in its if it.get("served") == "mix"]
            heavy = [max(it["weights"].values()) for it in its if it.get("weights")]
            if VARIANTS.get(v, {}).get("combine") == "mix":
                served = (
                    f"Iterations served by the mixture: {len(mixed)} of {len(its)}; mean heaviest weight "
                    f"{_fmt(statistics.fmean(heavy) if heavy else None)}."
                )
            else:
                served = f"{v}'s choices over its iterations: {_choices([r for r in prow if r['method'] == v and r['seed'] in seeds])}."
            lines += [
                "",
                f"{v} against the best candidate here ({best}): p = {_fmt(pval)}; against auto: p = {_fmt(pauto)} "
                f"(with {len(seeds)} seeds the test cannot give p below {_fmt(0.5 ** len(seeds))}). {served}",
                "",
            ]
        same = _same_data_cost([r for r in runs if r["method"] == v])
        if same is not None:
            lines += [
                f"{v}'s fit cost on the same data, over its {same['runs']} runs ({same['iterations']} iterations): "
                f"{_fmt(same['auto'])} s / iter against its candidates' {_fmt(same['sum'])} (each candidate's mean "
                f"fit when {v} refitted it: "
                + ", ".join(f"{c} {_fmt(x)}" for c, x in same["candidates"].items())
                + f"); ratio {same['auto'] / same['sum']:.3f}.",
                "",
            ]
    lines += [
        "## Summary",
        "",
        "Mean rank over the problems in each variant's section (among auto, its candidates and the variant), "
        "and where the variant is significantly worse (p < 0.05) than the best candidate.",
    ]
    verdicts = []
    header = None
    for v, d in summary.items():
        if not d["ranks"]:
            continue
        base = d["base"]
        if base != header:  # one table per set of candidates
            header = base
            lines += [
                "",
                "| variant | problems | "
                + " | ".join(f"mean rank {m}" for m in [*base, "variant"])
                + " | worse than best on |",
                "|---|---|" + "---|" * (len(base) + 1) + "---|",
            ]
        mean_rank = {m: statistics.fmean(rk[m] for rk in d["ranks"]) for m in [*base, v]}
        cells = [_fmt(mean_rank[m]) for m in [*base, v]]
        lines.append(f"| {v} | {', '.join(d['problems'])} | {' | '.join(cells)} | {', '.join(d['worse']) or 'none'} |")
        gp_rank = min(mean_rank[c] for c in base[1:])
        wins = mean_rank[v] < gp_rank and not d["worse"]
        verdicts.append(
            f"- `{v}`: mean rank {_fmt(mean_rank[v])} against the best candidate's {_fmt(gp_rank)} and auto's "
            f"{_fmt(mean_rank['auto'])}; significantly worse than the best candidate on "
            f"{', '.join(d['worse']) or 'no problem'} -> "
            + ("a candidate for auto's default." if wins else "not a candidate for auto's default.")
        )
    lines += [
        "",
        "A variant would be a candidate for auto's default when its mean rank is better than the best "
        "candidate's and it is never significantly worse than the best candidate:",
        "",
        *verdicts,
        "",
    ]
    return "\n".join(lines)


def cmd_variants(args) -> None:
    rows = [{**r, "_store": store} for store in args.store for r in load_store(Path(store))]
    variants = pick(args.variants, list(VARIANTS), "variant(s)")
    command = "python benchmarks/auto_suite.py " + " ".join(shlex.quote(a) for a in args.argv)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render_variants(rows, variants, command, args.store) + "\n")
    print(f"wrote {out}")


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="run the missing (problem, method, seed) runs into the store")
    r.add_argument("--problems", default="all")
    r.add_argument("--methods", default="all")
    r.add_argument("--seeds", default="0-9")
    r.add_argument("--until", default=None, metavar="HH:MM", help="start no run after this UTC time")
    r.add_argument("--store", default=str(STORE))
    d = sub.add_parser("doc", help="write docs/auto.md from the store")
    d.add_argument("--store", default=str(STORE))
    d.add_argument("--out", default=str(DOC))
    v = sub.add_parser("variants", help="write a variant-against-auto document from one or more stores")
    v.add_argument("--store", action="append", required=True, help="a store (repeat for several)")
    v.add_argument("--variants", required=True, help="comma-separated variant names")
    v.add_argument("--out", required=True)
    args = p.parse_args(argv)
    args.argv = argv
    {"run": cmd_run, "doc": cmd_doc, "variants": cmd_variants}[args.cmd](args)


if __name__ == "__main__":
    main()
