"""The report's tables: numbers (``ReportTable.data``, written as CSV) and their display text.

Conventions (``bnnbo.metrics``, shared with ``bnnbo run``'s table): a run's *final* value is its
last trace value (best so far, or hypervolume) and counts only once the run is finished; values
are shown in the problem's own direction. Ranks are per (problem, seed), 1 = best, ties
averaged; a failed run ranks last on its seed and an unfinished one is left out until it finishes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from bnnbo import metrics
from bnnbo.records import SHOWN_STATES, RunStatus
from bnnbo.report.data import MIN_REGRET, ReportData, se

STATES = tuple(s.value for s in SHOWN_STATES)


@dataclass
class ReportTable:
    key: str  # file name stem and HTML anchor
    title: str
    note: str
    data: pd.DataFrame  # numbers, as written to CSV
    display: pd.DataFrame  # strings, as shown in the HTML


def fmt(x, digits: int = 4) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    return f"{x:.{digits}g}" if isinstance(x, (float, np.floating)) else str(x)


def pm(mean: float, err: float) -> str:
    """``mean ± se`` (just the mean when the SE is undefined)."""
    return fmt(mean) if math.isnan(err) else f"{fmt(mean)} ± {fmt(err, 2)}"


def final_values(data: ReportData) -> pd.DataFrame:
    """One row per finished run: problem, surrogate, seed, final (maximisation convention)."""
    return metrics.final_values(data.runs, data.evals)


def final_best(data: ReportData) -> ReportTable:
    finals, rows = final_values(data), []
    for (problem, surrogate), runs in data.runs.groupby(["problem", "surrogate"], sort=False):
        info = data.problems[problem]
        v = finals[(finals.problem == problem) & (finals.surrogate == surrogate)].final
        row = {
            "problem": problem,
            "surrogate": surrogate,
            "measure": info.measure,
            "runs": len(runs),
            "finished": len(v),
            "failed": int((runs.status == RunStatus.FAILED).sum()),
            "mean": info.shown(v.mean()) if len(v) else math.nan,
            "se": se(v),
        }
        if info.optimum is not None:
            log_regret = np.log10(np.maximum(info.optimum - v, MIN_REGRET))
            row.update(log10_regret=log_regret.mean() if len(v) else math.nan, log10_regret_se=se(log_regret))
        rows.append(row)
    df = pd.DataFrame(rows)
    for col in ("log10_regret", "log10_regret_se"):
        if col not in df:
            df[col] = math.nan
    shown = pd.DataFrame(
        {
            "problem": df.problem,
            "surrogate": df.surrogate,
            "measure": df.measure,
            "final (mean ± SE)": [pm(m, s) for m, s in zip(df["mean"], df.se)],
            "log10 regret (mean ± SE)": [pm(m, s) for m, s in zip(df.log10_regret, df.log10_regret_se)],
            "finished / runs": [
                f"{f} / {r}" + (f" ({x} failed)" if x else "") for f, r, x in zip(df.finished, df.runs, df.failed)
            ],
        }
    )
    return ReportTable(
        "final_best",
        "Final best per surrogate",
        "Over finished runs only; hypervolume for several objectives; regret where the optimum is known.",
        df,
        shown,
    )


def seed_ranks(data: ReportData) -> pd.DataFrame:
    """Rank of each surrogate per (problem, seed): 1 = best; failed runs last, ties averaged."""
    return metrics.seed_ranks(data.runs, data.evals)


def mean_ranks(data: ReportData) -> ReportTable:
    ranks = seed_ranks(data)
    wide = metrics.mean_ranks(data.runs, data.evals)
    wide["overall"] = wide.mean(axis=1)  # each problem weighs the same, whatever its seed count
    wide = wide.sort_values("overall", kind="stable")
    df = wide.reset_index().rename_axis(columns=None)
    shown = df.copy()
    for col in df.columns[1:]:
        shown[col] = [fmt(v, 3) for v in df[col]]
    seeds = ranks.groupby("problem").seed.nunique()
    note = (
        "Mean over seeds of each surrogate's rank on that seed (1 = best); overall = mean over "
        "problems. Seeds ranked: "
        + ", ".join(f"{p} {seeds.get(p, 0)}" for p in data.problems)
        + ". Failed runs rank last; unfinished runs are left out."
    )
    return ReportTable("ranks", "Mean rank per problem and overall", note, df, shown)


def iterations(data: ReportData) -> pd.DataFrame:
    """One row per model-based iteration (an ask of q points shares one fit and one acquisition)."""
    ev = data.evals[~data.evals.initial.astype(bool)]
    return ev.groupby(["problem", "surrogate", "run_id", "batch"], sort=False).first().reset_index()


def timing(data: ReportData) -> ReportTable:
    it = iterations(data)
    df = (
        it.groupby(["problem", "surrogate"], sort=False)
        .agg(iterations=("batch", "size"), fit_seconds=("fit_seconds", "median"), acq_seconds=("acq_seconds", "median"))
        .reset_index()
    )
    shown = pd.DataFrame(
        {
            "problem": df.problem,
            "surrogate": df.surrogate,
            "iterations": df.iterations,
            "median fit s": [fmt(v, 3) for v in df.fit_seconds],
            "median acquisition s": [fmt(v, 3) for v in df.acq_seconds],
        }
    )
    return ReportTable(
        "timing",
        "Seconds per iteration",
        "Medians over every model-based iteration of every run (initial design excluded).",
        df,
        shown,
    )


def problems(data: ReportData) -> ReportTable:
    rows = []
    for label, info in data.problems.items():
        options = data.runs[data.runs.problem == label].problem_options.iloc[0] or {}
        rows.append(
            {
                "problem": label,
                "registry_name": info.name,
                "options": ", ".join(f"{k}={v}" for k, v in options.items()),
                "objectives": info.objectives,
                "initial_design": info.n_init,
                "budget": info.budget,
                "optimum": info.shown(info.optimum) if info.optimum is not None else math.nan,
            }
        )
    df = pd.DataFrame(rows)
    shown = df.rename(
        columns={
            "registry_name": "registered as",
            "initial_design": "initial design",
            "optimum": "known optimum / max. hypervolume",
        }
    )
    shown["known optimum / max. hypervolume"] = [fmt(v, 6) for v in df.optimum]
    return ReportTable(
        "problems",
        "Problems",
        "The study's problems as the plots and tables label them; budget = evaluations per run.",
        df,
        shown,
    )


def status(data: ReportData) -> ReportTable:
    rows = []
    for (problem, surrogate), runs in data.runs.groupby(["problem", "surrogate"], sort=False):
        row = {"problem": problem, "surrogate": surrogate}
        row.update({s: int((runs.status == s).sum()) for s in STATES})
        row.update(evaluations=int(runs.n_evaluations.sum()), planned=int(runs.budget.sum()))
        rows.append(row)
    df = pd.DataFrame(rows)
    shown = df.drop(columns=["evaluations", "planned"]).copy()
    shown["evaluations"] = [f"{e} / {p}" for e, p in zip(df.evaluations, df.planned)]
    return ReportTable("status", "Runs", "State of every run when the report was written.", df, shown)


def failed_runs(data: ReportData) -> ReportTable:
    f = data.runs[data.runs.status == RunStatus.FAILED]
    df = pd.DataFrame(
        {
            "problem": f.problem,
            "surrogate": f.surrogate,
            "seed": f.seed,
            "evaluations": f.n_evaluations,
            "budget": f.budget,
            "error": f.error.fillna(""),
            "traceback": f.traceback.fillna(""),
        }
    )
    shown = df.drop(columns=["budget", "traceback"]).copy()
    shown["evaluations"] = [f"{e} / {b}" for e, b in zip(df.evaluations, df.budget)]
    return ReportTable(
        "failed",
        "Failed runs",
        "Each failed run with its error; the other runs went on.",
        df.reset_index(drop=True),
        shown.reset_index(drop=True),
    )
