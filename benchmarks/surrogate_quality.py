"""Surrogate quality over seeds and problems: held-out NLL, RMSE, calibration and fit time of every
surrogate (default settings), mean +- SE over seeds, written to docs/surrogate-quality.md.

Each (problem, seed, surrogate) is one ``bnnbo.assess.assess`` call (n Sobol training points,
m uniform test points, both from the seed) and one JSON line in ``--out``; lines already there are
skipped, so a stopped run continues where it stopped. ``--render-only`` rewrites the doc's
generated section (between the ``surrogate-quality`` markers) and the calibration figures from the
jsonl alone: no number in that section is typed by hand.

    OMP_NUM_THREADS=1 python benchmarks/surrogate_quality.py [--seeds 5] [--n 100] [--m 1000]
        [--problems hartmann6,poly,oil] [--surrogates gp,ibnn,...] [--render-only]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "surrogate_quality.jsonl"
DEFAULT_DOC = ROOT / "docs" / "surrogate-quality.md"
FIGURES = ROOT / "docs" / "figures"
BEGIN, END = "<!-- surrogate-quality:begin (generated) -->", "<!-- surrogate-quality:end -->"

#: label -> (registry name, options, kind): one low-dimensional, one high-dimensional, one mixed
PROBLEMS = {
    "hartmann6": ("hartmann6", {}, "low-dimensional, continuous"),
    "poly": ("poly", {"dim": 200}, "high-dimensional, continuous"),
    "oil": ("oil", {}, "mixed float / integer inputs, 3 objectives"),
    "branin": ("branin", {}, "low-dimensional, continuous"),
    "ackley": ("ackley", {"dim": 10}, "10-D, continuous"),
    "pest": ("pest", {}, "25 categorical inputs"),
}
SURROGATES = ("gp", "ibnn", "dkl", "laplace", "hmc", "ensemble", "sghmc", "hybrid")
LEVELS = (0.5, 0.9, 0.95)
#: mean over LEVELS of (observed - nominal coverage) beyond +- this: under- / overconfident
CALIBRATED = 0.05


def done_keys(path: Path) -> set[tuple]:
    if not path.exists():
        return set()
    return {(r["problem"], r["seed"], r["surrogate"], r["n"], r["m"]) for r in read_rows(path)}


def read_rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def measure(args) -> None:
    from bnnbo.assess import assess
    from bnnbo.executors import set_threads
    from bnnbo.problems import get_problem

    set_threads(args.threads)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    done = done_keys(out)
    command = "python benchmarks/surrogate_quality.py " + " ".join(sys.argv[1:])
    problems = {label: get_problem(PROBLEMS[label][0], **PROBLEMS[label][1]) for label in args.problems}
    for seed in range(args.seeds):  # seeds outermost: a stopped run has every problem at fewer seeds
        for label, problem in problems.items():
            name, options, _ = PROBLEMS[label]
            for s in args.surrogates:
                if (label, seed, s, args.n, args.m) in done:
                    continue
                t = time.perf_counter()
                (a,) = assess(problem, [s], n=args.n, m=args.m, seed=seed)
                row = {
                    "problem": label,
                    "problem_name": name,
                    "options": options,
                    "dim": problem.space.dim,
                    "seed": seed,
                    "surrogate": s,
                    "n": args.n,
                    "m": args.m,
                    "nll": a.nll,
                    "rmse": a.rmse,
                    "coverage": {f"{p:g}": c for p, c in a.coverage.items()},
                    "fit_seconds": a.fit_seconds,
                    "seconds": time.perf_counter() - t,
                    "error": a.error,
                    "command": command,
                    "threads": args.threads,
                    "machine": platform.machine(),
                    "load_average": round(os.getloadavg()[0], 1),
                    "at": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                }
                with out.open("a") as f:
                    f.write(json.dumps(row) + "\n")
                print(
                    f"{label} seed {seed} {s}: NLL {a.nll:.3f} RMSE {a.rmse:.3f} "
                    f"fit {a.fit_seconds:.1f} s{' ERROR ' + a.error if a.error else ''}",
                    flush=True,
                )


# ---- the document ------------------------------------------------------------------------------
def mean_se(xs: list[float]) -> tuple[float, float]:
    xs = [x for x in xs if x is not None and math.isfinite(x)]
    if not xs:
        return math.nan, math.nan
    return statistics.fmean(xs), (statistics.stdev(xs) / math.sqrt(len(xs)) if len(xs) > 1 else math.nan)


def pm(m: float, s: float, digits: int = 3) -> str:
    if math.isnan(m):
        return "-"
    return f"{m:.{digits}f}" + ("" if math.isnan(s) else f" ± {s:.{digits}f}")


def summarise(rows: list[dict]) -> dict[str, dict[str, dict]]:
    """problem -> surrogate -> {seeds, failed, nll, rmse, cover: {p: (mean, se)}, fit, curve}."""
    out: dict[str, dict[str, dict]] = {}
    for label in dict.fromkeys(r["problem"] for r in rows):
        mine = [r for r in rows if r["problem"] == label]
        out[label] = {}
        for s in dict.fromkeys(r["surrogate"] for r in mine):
            rs = [r for r in mine if r["surrogate"] == s]
            ok = [r for r in rs if not r["error"]]
            levels = sorted({float(k) for r in ok for k in r["coverage"]})
            out[label][s] = {
                "seeds": len(ok),
                "failed": [r["error"] for r in rs if r["error"]],
                "nll": mean_se([r["nll"] for r in ok]),
                "rmse": mean_se([r["rmse"] for r in ok]),
                "fit": mean_se([r["fit_seconds"] for r in ok]),
                "cover": {p: mean_se([r["coverage"][f"{p:g}"] for r in ok]) for p in LEVELS},
                "curve": {p: statistics.fmean(r["coverage"][f"{p:g}"] for r in ok) for p in levels} if ok else {},
            }
    return out


def coverage_error(v: dict) -> float:
    """Mean over LEVELS of observed minus nominal coverage (positive: intervals too wide)."""
    return statistics.fmean(v["cover"][p][0] - p for p in LEVELS)


def calibration_word(err: float) -> str:
    return "overconfident" if err < -CALIBRATED else "underconfident" if err > CALIBRATED else "calibrated"


def nll_ranks(summary: dict) -> dict[str, list[int]]:
    """surrogate -> its rank by mean NLL on each problem (1 = lowest)."""
    ranks: dict[str, list[int]] = {}
    for by_s in summary.values():
        order = sorted((v["nll"][0], s) for s, v in by_s.items() if not math.isnan(v["nll"][0]))
        for i, (_, s) in enumerate(order, 1):
            ranks.setdefault(s, []).append(i)
    return ranks


def shown_command(command: str) -> str:
    """The command without its output paths (where the files went is not how they were made)."""
    words, out = command.split(), []
    for w in words:
        if out and out[-1] in ("--out", "--doc", "--figures"):
            out.pop()
            continue
        out.append(w)
    return "OMP_NUM_THREADS=1 " + " ".join(out)


def render(rows: list[dict], figures: Path, doc_dir: Path) -> str:
    from bnnbo.assess import Assessment, plot_calibration

    summary = summarise(rows)
    meta = rows[0]
    dates = sorted(r["at"] for r in rows)
    commands = sorted({shown_command(r["command"]) for r in rows})
    seeds = sorted({r["seed"] for r in rows})
    lines = [
        BEGIN,
        "",
        "Generated by `python benchmarks/surrogate_quality.py --render-only` from "
        "`benchmarks/results/surrogate_quality.jsonl`; do not edit by hand.",
        "",
        "```",
        *commands,
        "```",
        "",
        (
            f"Setup: every surrogate with its default settings (`hybrid`: HMC mean with GP uncertainty); "
            f"n = {meta['n']} training points, m = {meta['m']} test points; seeds {', '.join(map(str, seeds))} "
            f"(the seed draws both point sets and seeds the fit); one process, {meta['threads']} torch "
            f"thread(s); measured {dates[0]} to {dates[-1]} on this project's 2-core machine **shared with "
            "other jobs** (a reproduction campaign and other work), so the fit seconds are rough and only "
            "comparable within a table. Each cell is the mean ± SE over the seeds; for several objectives each "
            "seed's score is the mean over objectives."
        ),
        "",
    ]
    for label, by_s in summary.items():
        name, options, kind = PROBLEMS.get(label, (label, {}, ""))
        d = next(r["dim"] for r in rows if r["problem"] == label)
        opts = ", ".join(f"{k}={v}" for k, v in options.items())
        lines += [
            f"### {label}{f' ({opts})' if opts else ''}: d = {d}, {kind}",
            "",
            "| surrogate | seeds | NLL | RMSE | cover 50% | cover 90% | cover 95% | fit s |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for s, v in by_s.items():
            cov = " | ".join(pm(*v["cover"][p], digits=2) for p in LEVELS)
            failed = f" ({len(v['failed'])} failed)" if v["failed"] else ""
            lines.append(
                f"| {s} | {v['seeds']}{failed} | {pm(*v['nll'])} | {pm(*v['rmse'])} | {cov} | "
                f"{pm(*v['fit'], digits=1)} |"
            )
        png = figures / f"calibration-{label}.png"
        plot_calibration(
            [Assessment(s, v["nll"][0], v["rmse"][0], v["curve"], v["fit"][0]) for s, v in by_s.items() if v["seeds"]],
            str(png),
            title=f"{label}: mean coverage over {len(seeds)} seeds",
        )
        rel = Path(os.path.relpath(png.resolve(), doc_dir.resolve()))
        lines += ["", f"![calibration on {label}]({rel.as_posix()})", ""]
        errors = sorted({e for v in by_s.values() for e in v["failed"]})
        if errors:
            lines += ["Failures: " + "; ".join(f"`{e[:120]}`" for e in errors), ""]
    # the reading, computed: NLL ranks and calibration per surrogate across the problems
    ranks = nll_ranks(summary)
    lines += [
        "### Across the problems",
        "",
        (
            "Rank by mean NLL on each problem (1 = best; mean rank over the problems a surrogate ran on) "
            "and its coverage error: observed minus nominal coverage averaged over the "
            f"{', '.join(f'{p:.0%}' for p in LEVELS)} intervals, with the word it gives (beyond "
            f"±{CALIBRATED:g}: *underconfident* if positive, intervals too wide; *overconfident* if "
            "negative)."
        ),
        "",
        "| surrogate | "
        + " | ".join(f"{p} NLL rank" for p in summary)
        + " | mean rank | "
        + " | ".join(f"{p} coverage error" for p in summary)
        + " |",
        "|---|" + "---|" * (2 * len(summary) + 1),
    ]
    for s in sorted(ranks, key=lambda s: (statistics.fmean(ranks[s]), s)):
        per = []
        for p, by_s in summary.items():
            order = sorted((v["nll"][0], k) for k, v in by_s.items() if not math.isnan(v["nll"][0]))
            per.append(str([k for _, k in order].index(s) + 1) if s in [k for _, k in order] else "-")
        cal = [
            f"{coverage_error(by_s[s]):+.2f} {calibration_word(coverage_error(by_s[s]))}"
            if s in by_s and by_s[s]["seeds"]
            else "-"
            for by_s in summary.values()
        ]
        lines.append(f"| {s} | " + " | ".join(per) + f" | {statistics.fmean(ranks[s]):.2f} | " + " | ".join(cal) + " |")
    lines += ["", END]
    return "\n".join(lines)


def write_doc(rows: list[dict], doc: Path, figures: Path) -> None:
    text = doc.read_text()
    if BEGIN not in text or END not in text:
        raise SystemExit(f"{doc} has no generated section ({BEGIN} ... {END})")
    figures.mkdir(parents=True, exist_ok=True)
    head, rest = text.split(BEGIN, 1)
    tail = rest.split(END, 1)[1]
    doc.write_text(head + render(rows, figures, doc.parent) + tail)
    print(f"wrote {doc}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--problems", default="hartmann6,poly,oil", help=f"comma-separated, of {', '.join(PROBLEMS)}")
    p.add_argument("--surrogates", default=",".join(SURROGATES))
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--n", type=int, default=100)
    p.add_argument("--m", type=int, default=1000)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default=str(DEFAULT_OUT))
    p.add_argument("--doc", default=str(DEFAULT_DOC))
    p.add_argument("--figures", default=str(FIGURES))
    p.add_argument("--render-only", action="store_true", help="rewrite the doc from --out, measure nothing")
    args = p.parse_args(argv)
    args.problems = args.problems.split(",")
    args.surrogates = args.surrogates.split(",")
    unknown = [x for x in args.problems if x not in PROBLEMS]
    if unknown:
        p.error(f"unknown problem(s) {unknown}; expected some of {', '.join(PROBLEMS)}")
    if args.seeds < 1:
        p.error(f"--seeds {args.seeds}: expected at least 1")
    if not args.render_only:
        measure(args)
    rows = (
        [
            r
            for r in read_rows(Path(args.out))
            if r["problem"] in args.problems
            and r["surrogate"] in args.surrogates
            and (r["n"], r["m"]) == (args.n, args.m)
        ]
        if Path(args.out).exists()
        else []
    )
    if not rows:
        print(f"no results in {args.out}", file=sys.stderr)
        return 1
    write_doc(rows, Path(args.doc), Path(args.figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
