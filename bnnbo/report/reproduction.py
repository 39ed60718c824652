"""docs/reproduction.md from exported campaign results: tables, plots and the study's findings,
each verdict computed by the rules below (no number in the document is typed by hand).

    python -m bnnbo.report.reproduction results/paper [--out docs/reproduction.md]
        [--figures docs/figures/reproduction]

Input: a folder of exports (``bnnbo export``, one per study) and its ``manifest.json`` (written by
``python -m bnnbo.campaign``): per configuration the study names, seeds, surrogates, budgets and
why anything was not run (the study's configurations whose problem cannot run anywhere, optics and
cco, are listed with the reason). Studies named ``paper-<config>`` are the study's configurations;
``modern-<config>`` run today's defaults (dimension-scaled GP priors, qLogNEI) on the same problem.

Per configuration the *final value* of a run is its last best-so-far (hypervolume for several
objectives), in the maximisation convention; finished runs only. Surrogates are ranked by their
mean final value (1 = best). Verdict rules (surrogate labels as in configs/paper):

(i)   no single surrogate is best everywhere — needs >= 2 configurations: *reproduced* if at least
      two different surrogates rank first somewhere (every surrogate tied for first counts), else
      *not reproduced*.
(ii)  HMC is the most successful inference for fully stochastic BNNs — ranks re-computed among
      STOCHASTIC present on each configuration; needs hmc and another on >= 1 configuration:
      *reproduced* if hmc has the lowest mean rank among them alone, *partly* if it shares the
      lowest or exactly one is lower, else *not reproduced*.
(iii) full stochasticity may be unnecessary (DKL is competitive) — overall mean ranks: *reproduced*
      if dkl's is at most the best STOCHASTIC surrogate's, *partly* if it beats at least one of
      them, else *not reproduced*.
(iv)  infinite-width BNNs are promising, especially in high dimensions (d > HIGH_DIM): *reproduced*
      if ibnn alone has the lowest mean rank on the high-dimensional configurations, *partly* if it
      shares the lowest, or exactly one is lower out of three or more surrogates (with two, second
      is last), else *not reproduced*; needs a high-dimensional configuration with ibnn and another
      surrogate.
(v)   GPs remain strong on low-dimensional synthetic (d <= LOW_DIM) and several real-world
      problems — "strong" = rank <= 2: *reproduced* if gp is strong on at least half of the
      low-dimensional synthetic configurations and on at least two real-world ones, *partly* if
      one of the two holds, else *not reproduced*.
Modern GP: on each configuration with both studies, gap = ibnn - GP (maximisation convention,
positive: ibnn better), SE combined in quadrature. Where the paper GP's gap is negative (the paper
GP ahead) or within one SE there is *no gap* to close, and the verdict says which; else the modern GP *overtakes the I-BNN* if its gap is below
minus one SE, *closes the gap* if within one SE, *narrows* it if smaller than the paper GP's,
else *does not close the gap*.
Both GPs and the I-BNN are compared at the same number of evaluations: the smaller of the two
studies' budgets (so a shortened study is compared at its own budget), over the runs that reached it.

Partial exports (a campaign still running) render too: configurations without a finished run are
listed but left out of the ranks and findings; a surrogate with fewer finished runs than runs is
marked, and the findings say which configurations are incomplete; modern studies whose paper
study has not been exported yet are listed on their own.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from bnnbo.errors import ConfigError
from bnnbo.paper import STUDY, config_name
from bnnbo.problems.availability import UNAVAILABLE
from bnnbo.report.data import ReportData, load_report_data, se
from bnnbo.report.tables import final_values, fmt, pm

STOCHASTIC = ("hmc", "sghmc", "laplace")  # fully stochastic BNN inference in the study
HIGH_DIM, LOW_DIM = 20, 10
SYNTHETIC = ("branin", "hartmann6", "ackley", "branincurrin", "dtlz1", "dtlz5", "poly", "nndraw")
PAUSE_SECONDS = 1800  # gaps between evaluations longer than this count as the campaign paused


@dataclass
class Config:
    """One configuration's results: its paper study (and modern study, if run)."""

    name: str
    data: ReportData
    modern: ReportData | None = None
    table: pd.DataFrame = field(default_factory=pd.DataFrame)  # surrogate, n, mean, se, rank

    @property
    def runs_per_surrogate(self) -> dict[str, int]:
        """Every surrogate with a run (finished or not) and its number of runs."""
        return self.data.runs.groupby("surrogate", sort=False).size().to_dict()

    @property
    def incomplete(self) -> list[str]:
        """Surrogates with fewer finished runs than runs (or none finished)."""
        done = dict(zip(self.table.surrogate, self.table.n))
        return [s for s, k in self.runs_per_surrogate.items() if done.get(s, 0) < k]

    @property
    def problem(self) -> str:
        return next(iter(self.data.problems))

    @property
    def info(self):
        return self.data.problems[self.problem]

    @property
    def dim(self) -> int:
        from bnnbo.problems import problem_info

        r = self.data.runs.iloc[0]
        return problem_info(r.problem_name, **(r.problem_options or {})).dim

    @property
    def ranks(self) -> dict[str, float]:
        return dict(zip(self.table.surrogate, self.table["rank"]))


def final_table(data: ReportData, problem: str) -> pd.DataFrame:
    """Per surrogate: finished runs, mean and SE of the final value (max. convention), rank."""
    finals = final_values(data)
    rows = []
    for s in data.surrogates:
        v = finals[(finals.problem == problem) & (finals.surrogate == s)].final.astype(float)
        if len(v):
            rows.append({"surrogate": s, "n": len(v), "mean": float(v.mean()), "se": se(v)})
    df = pd.DataFrame(rows, columns=["surrogate", "n", "mean", "se"])
    df["rank"] = df["mean"].rank(ascending=False, method="min")
    return df.sort_values("rank", kind="stable").reset_index(drop=True)


def load_configs(folder: Path) -> tuple[list[Config], dict, list[ReportData]]:
    """The paper configurations exported so far (with their modern studies), the manifest, and the
    modern studies whose paper study is not among the exports (yet)."""
    from bnnbo.exports import load_exports

    if not folder.is_dir():
        raise ConfigError(f"no results folder {str(folder)!r}")
    manifest_path = folder / "manifest.json"
    try:
        manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{manifest_path} is not valid JSON: {exc}") from None
    studies, runs, _ = load_exports(folder)
    names = [s["name"] for s in studies]
    runs_by_study = runs.groupby("study").size()
    configs = []
    for name in names:
        if not name.startswith("paper-") or not _has_runs(runs_by_study, name):
            continue
        config = name.removeprefix("paper-")
        data = load_report_data(folder, name)
        modern = load_report_data(folder, f"modern-{config}") if _has_runs(runs_by_study, f"modern-{config}") else None
        c = Config(config, data, modern)
        c.table = final_table(data, c.problem)
        configs.append(c)
    paired = {f"modern-{c.name}" for c in configs}
    alone = [
        load_report_data(folder, name)
        for name in names
        if name.startswith("modern-") and name not in paired and _has_runs(runs_by_study, name)
    ]
    if not configs and not alone:
        raise ConfigError(f"{folder} holds no paper-<configuration> or modern-<configuration> study exports with runs")
    return configs, manifest, alone


def _has_runs(runs_by_study: pd.Series, name: str) -> bool:
    return int(runs_by_study.get(name, 0)) > 0


def ranked(configs: list[Config]) -> list[Config]:
    """Configurations with at least one finished run: what the ranks and findings use."""
    return [c for c in configs if not c.table.empty]


# ---- findings ----------------------------------------------------------------------------------
@dataclass
class Finding:
    key: str
    claim: str
    verdict: str
    evidence: str


def mean_ranks(configs: list[Config], only: tuple[str, ...] | None = None) -> pd.Series:
    """Mean over configurations of each surrogate's rank (re-ranked among ``only`` if given)."""
    rows = []
    for c in configs:
        t = c.table if only is None else c.table[c.table.surrogate.isin(only)]
        r = t["mean"].rank(ascending=False, method="min")
        rows += [(c.name, s, float(x)) for s, x in zip(t.surrogate, r)]
    if not rows:
        return pd.Series(dtype=float)
    return pd.DataFrame(rows, columns=["config", "surrogate", "rank"]).groupby("surrogate")["rank"].mean()


def _standing(r: pd.Series, name: str) -> tuple[int, bool]:
    """How many have a strictly lower mean rank than ``name``, and whether another equals its."""
    return int((r < r[name]).sum()), int((r == r[name]).sum()) > 1


def _fmt_ranks(s: pd.Series) -> str:
    return ", ".join(f"{k} {v:.2f}" for k, v in s.sort_values().items())


def finding_i(configs: list[Config]) -> Finding:
    claim = "No single surrogate is best on all problems."
    if len(configs) < 2:
        return Finding("i", claim, "not tested", "needs at least two configurations")
    winners = {c.name: list(c.table.surrogate[c.table["rank"] == 1]) for c in configs}
    distinct = sorted({s for w in winners.values() for s in w})
    verdict = "reproduced" if len(distinct) >= 2 else "not reproduced"
    return Finding(
        "i",
        claim,
        verdict,
        f"{len(distinct)} different surrogate(s) rank first: "
        + "; ".join(f"{k}: {' = '.join(v)}" for k, v in winners.items()),
    )


def finding_ii(configs: list[Config]) -> Finding:
    claim = "HMC is the most successful approximate inference method for fully stochastic BNNs."
    used = [
        c for c in configs if "hmc" in set(c.table.surrogate) and len(set(c.table.surrogate) & set(STOCHASTIC)) >= 2
    ]
    if not used:
        return Finding("ii", claim, "not tested", f"no configuration with hmc and another of {STOCHASTIC}")
    r = mean_ranks(used, STOCHASTIC).sort_values()
    order = list(r.index)
    lower, tied = _standing(r, "hmc")
    verdict = "reproduced" if lower == 0 and not tied else "partly" if lower <= 1 else "not reproduced"
    return Finding(
        "ii", claim, verdict, f"mean rank among {', '.join(order)} over {len(used)} configuration(s): {_fmt_ranks(r)}"
    )


def finding_iii(configs: list[Config]) -> Finding:
    claim = "Full stochasticity may be unnecessary: deep kernel learning is relatively competitive."
    r = mean_ranks(configs)
    stoch = r.reindex([s for s in STOCHASTIC if s in r.index])
    if "dkl" not in r.index or stoch.empty:
        return Finding("iii", claim, "not tested", f"needs dkl and one of {STOCHASTIC}")
    verdict = "reproduced" if r["dkl"] <= stoch.min() else "partly" if r["dkl"] < stoch.max() else "not reproduced"
    return Finding(
        "iii", claim, verdict, f"overall mean rank: dkl {r['dkl']:.2f}; fully stochastic: {_fmt_ranks(stoch)}"
    )


def finding_iv(configs: list[Config]) -> Finding:
    claim = "Infinite-width BNNs are particularly promising, especially in high dimensions."
    high = [c for c in configs if c.dim > HIGH_DIM and "ibnn" in set(c.table.surrogate) and len(c.table) > 1]
    if not high:
        return Finding(
            "iv", claim, "not tested", f"no configuration with d > {HIGH_DIM} that ran ibnn and another surrogate"
        )
    r = mean_ranks(high).sort_values()
    lower, tied = _standing(r, "ibnn")
    low = [c for c in configs if c.dim <= HIGH_DIM and "ibnn" in set(c.table.surrogate)]
    low_rank = mean_ranks(low).get("ibnn", math.nan) if low else math.nan
    verdict = (
        "reproduced"
        if lower == 0 and not tied
        else "partly"
        if lower == 0 or (lower == 1 and len(r) > 2)
        else "not reproduced"
    )
    return Finding(
        "iv",
        claim,
        verdict,
        f"mean rank on {', '.join(c.name for c in high)} (d > {HIGH_DIM}): "
        f"{_fmt_ranks(r)}; ibnn's mean rank on the other configurations: {fmt(low_rank, 3)}",
    )


def finding_v(configs: list[Config]) -> Finding:
    claim = "GPs remain strong on lower-dimensional synthetic and several real-world problems."
    with_gp = [c for c in configs if "gp" in set(c.table.surrogate) and len(c.table) > 1]
    synth = [c for c in with_gp if c.info.name in SYNTHETIC and c.dim <= LOW_DIM]
    real = [c for c in with_gp if c.info.name not in SYNTHETIC]
    if not synth and not real:
        return Finding("v", claim, "not tested", "no configuration ran gp and another surrogate")
    strong_s = [c.name for c in synth if c.ranks["gp"] <= 2]
    strong_r = [c.name for c in real if c.ranks["gp"] <= 2]
    a = bool(synth) and len(strong_s) >= len(synth) / 2
    b = len(strong_r) >= 2
    verdict = "reproduced" if a and b else "partly" if a or b else "not reproduced"
    return Finding(
        "v",
        claim,
        verdict,
        f"gp ranks <= 2 on {len(strong_s)} of {len(synth)} low-dimensional "
        f"synthetic configuration(s) ({', '.join(strong_s) or 'none'}) and on {len(strong_r)} of "
        f"{len(real)} real-world one(s) ({', '.join(strong_r) or 'none'})",
    )


def table_at(data: ReportData, problem: str, k: int) -> pd.DataFrame:
    """Per surrogate: runs with at least ``k`` evaluations, mean and SE of their best-so-far
    (hypervolume) after ``k`` evaluations (maximisation convention)."""
    ev = data.evals[(data.evals.problem == problem) & (data.evals["index"] == k - 1)]
    rows = [
        {"surrogate": s, "n": len(v), "mean": float(v.astype(float).mean()), "se": se(v)}
        for s, v in ev.groupby("surrogate", sort=False).trace
    ]
    return pd.DataFrame(rows, columns=["surrogate", "n", "mean", "se"])


def modern_rows(configs: list[Config]) -> pd.DataFrame:
    rows = []
    for c in configs:
        if c.modern is None or c.problem not in c.modern.problems:
            continue
        k = min(c.info.budget, c.modern.problems[c.problem].budget)  # the same number of evaluations
        t = table_at(c.data, c.problem, k).set_index("surrogate")
        m = table_at(c.modern, c.problem, k).set_index("surrogate")
        if "gp" not in t.index or "gp" not in m.index or "ibnn" not in t.index:
            continue
        ib, gp, mg = t.loc["ibnn"], t.loc["gp"], m.loc["gp"]
        gap_p, gap_m = ib["mean"] - gp["mean"], ib["mean"] - mg["mean"]
        se_p = math.hypot(_z(ib.se), _z(gp.se))
        se_m = math.hypot(_z(ib.se), _z(mg.se))
        if gap_p <= 0:
            verdict = "no gap (the paper GP is ahead)"
        elif gap_p <= se_p:
            verdict = "no gap (the I-BNN ahead by less than one SE)"
        elif gap_m < -se_m:
            verdict = "overtakes the I-BNN"
        elif abs(gap_m) <= se_m:
            verdict = "closes the gap"
        else:
            verdict = "narrows the gap" if gap_m < gap_p else "does not close the gap"
        rows.append(
            {
                "config": c.name,
                "d": c.dim,
                "evaluations": k,
                "paper_gp": gp["mean"],
                "paper_gp_se": gp.se,
                "paper_gp_n": int(gp.n),
                "modern_gp": mg["mean"],
                "modern_gp_se": mg.se,
                "modern_gp_n": int(mg.n),
                "ibnn": ib["mean"],
                "ibnn_se": ib.se,
                "ibnn_n": int(ib.n),
                "gap_paper": gap_p,
                "gap_modern": gap_m,
                "verdict": verdict,
                "negated": c.info.negated and c.info.objectives == 1,
            }
        )
    return pd.DataFrame(rows)


def _z(x: float) -> float:
    return 0.0 if x is None or math.isnan(x) else float(x)


# ---- wall time -----------------------------------------------------------------------------------
def campaign_time(configs: list[Config], alone: Sequence[ReportData] = ()) -> dict[str, float]:
    """Busy wall time, the span from first to last evaluation, and the seconds spent in fits and
    acquisitions. Busy: the union of the gaps between consecutive stored evaluations up to
    PAUSE_SECONDS (longer ones count as the campaign paused) and of each model step's own fit and
    acquisition time before its evaluations were stored (so one step longer than PAUSE_SECONDS is
    not taken for a pause); two workers' overlapping steps count once."""
    stamps, steps, compute = [], [], 0.0
    for d in [x for c in configs for x in (c.data, c.modern)] + list(alone):
        if d is None or d.evals.empty:
            continue
        stamps.append(_seconds(d.evals.created_at))
        model = d.evals[~d.evals.initial.astype(bool)].groupby(["run_id", "batch"]).first()
        work = (model.fit_seconds.astype(float) + model.acq_seconds.astype(float)).to_numpy()
        compute += float(work.sum())
        end = _seconds(model.created_at)
        steps.append(np.stack([end - work, end], axis=1))
    if not stamps:
        return {"busy": 0.0, "span": 0.0, "compute": 0.0}
    t = np.sort(np.concatenate(stamps))
    near = np.diff(t) <= PAUSE_SECONDS
    intervals = np.concatenate([np.stack([t[:-1][near], t[1:][near]], axis=1), *steps])
    return {"busy": _union_length(intervals), "span": float(t[-1] - t[0]), "compute": compute}


def _seconds(stamps: pd.Series) -> np.ndarray:
    """Timestamps as seconds since the epoch (UTC)."""
    return (pd.to_datetime(stamps, utc=True) - pd.Timestamp(0, tz="UTC")).dt.total_seconds().to_numpy()


def _union_length(intervals: np.ndarray) -> float:
    """Total length of the union of ``k x 2`` [start, end] intervals."""
    total, reach = 0.0, -math.inf
    for start, end in sorted(map(tuple, intervals)):
        if end <= reach:
            continue
        total += end - max(start, reach)
        reach = end
    return total


def _hours(s: float) -> str:
    return f"{s / 3600:.1f} h" if s >= 3600 else f"{s / 60:.1f} min"


# ---- the document --------------------------------------------------------------------------------
def render(
    configs: list[Config], manifest: dict, figures: Path, doc_dir: Path, alone: list[ReportData] | None = None
) -> str:
    from bnnbo.report.plots import problem_figure

    alone = alone or []
    figures.mkdir(parents=True, exist_ok=True)
    done = ranked(configs)
    exported = [c.name for c in configs] + [d.study for d in alone]
    out = [
        "# Reproduction of the BNN-surrogate study",
        "",
        (
            "Generated by `python -m bnnbo.report.reproduction` from the exported results "
            f"({', '.join(exported)}); do not edit by hand. Values are final best-so-far "
            "(hypervolume for several objectives) in each problem's own direction, mean ± SE over "
            "finished seeds; rank 1 = best mean. The verdict rules are in the script's docstring."
        ),
        "",
    ]
    findings = [finding_i(done), finding_ii(done), finding_iii(done), finding_iv(done), finding_v(done)]
    out += ["## Findings", ""]
    partial = [f"{c.name} ({', '.join(c.incomplete)})" for c in done if c.incomplete]
    waiting = [c.name for c in configs if c.table.empty]
    if partial or waiting:
        out += [
            (
                "**Partial results**: the verdicts below may change as the campaign goes on. "
                + (f"Surrogates with unfinished runs: {'; '.join(partial)}. " if partial else "")
                + (f"Exported without a finished run yet (left out): {', '.join(waiting)}." if waiting else "")
            ).strip(),
            "",
        ]
    out += ["| finding | claim | verdict | evidence |", "|---|---|---|---|"]
    out += [f"| ({f.key}) | {f.claim} | **{f.verdict}** | {f.evidence} |" for f in findings]
    out += ["", "## Suite: mean rank and wins per surrogate", ""]
    r = mean_ranks(done)
    if r.empty:
        out += ["No paper configuration has a finished run yet.", ""]
    else:
        wins = pd.Series([s for c in done for s in c.table.surrogate[c.table["rank"] == 1]]).value_counts()
        n_cfg = pd.Series([s for c in done for s in c.table.surrogate]).value_counts()
        out += ["| surrogate | mean rank | wins | configurations |", "|---|---|---|---|"]
        out += [
            f"| {s} | {v:.2f} | {int(wins.get(s, 0))} | {int(n_cfg.get(s, 0))} |" for s, v in r.sort_values().items()
        ]
    m = modern_rows(configs)
    out += [
        "",
        "## Modern GP against the study's GP",
        "",
        (
            "`modern-<config>` studies run `gp` with today's dimension-scaled priors and qLogNEI; the "
            'study\'s GP (`gp`, `priors = "paper"`) and the I-BNN come from the paper studies. '
            "Gap = I-BNN − GP in the maximisation convention (positive: the I-BNN is better)."
        ),
        "",
    ]
    if m.empty:
        out += ["Not tested: no configuration has both a paper and a modern study with gp and ibnn.", ""]
    else:
        out += [
            (
                "Values after the same number of evaluations in both studies (the smaller budget); "
                "in brackets, the runs that reached it."
            ),
            "",
            "| configuration | d | evaluations | paper GP | modern GP | I-BNN | gap (paper) | gap (modern) | verdict |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for _, x in m.iterrows():
            sign = -1 if x.negated else 1
            out.append(
                f"| {x.config} | {x.d} | {x.evaluations} | {pm(sign * x.paper_gp, x.paper_gp_se)} "
                f"({x.paper_gp_n}) | {pm(sign * x.modern_gp, x.modern_gp_se)} ({x.modern_gp_n}) | "
                f"{pm(sign * x.ibnn, x.ibnn_se)} ({x.ibnn_n}) | "
                f"{fmt(x.gap_paper)} | {fmt(x.gap_modern)} | {x.verdict} |"
            )
        out.append("")
    compared = set(m.config) if not m.empty else set()
    uncompared = [c for c in configs if c.modern is not None and c.name not in compared]
    if uncompared:
        out += ["Modern studies not compared yet (no gp run of theirs has reached the compared budget):", ""]
        for c in uncompared:
            assert c.modern is not None
            runs = c.modern.runs
            k = min(c.info.budget, c.modern.problems[c.problem].budget) if c.problem in c.modern.problems else None
            out.append(
                f"- {c.modern.study}: {int((runs.status == 'finished').sum())} of {len(runs)} runs finished"
                + (f"; compared at {k} evaluations" if k is not None else "")
            )
        out.append("")
    if alone:
        out += [
            "Modern studies whose paper study is not exported yet (nothing to compare with):",
            "",
            "| study | problem | surrogate | final (mean ± SE) | finished runs |",
            "|---|---|---|---|---|",
        ]
        for d in alone:
            for problem, info in d.problems.items():
                table = final_table(d, problem).set_index("surrogate")
                for s, k in d.runs[d.runs.problem == problem].groupby("surrogate", sort=False).size().items():
                    value = pm(info.shown(table.loc[s, "mean"]), table.loc[s, "se"]) if s in table.index else "–"
                    n = int(table.loc[s, "n"]) if s in table.index else 0
                    out.append(f"| {d.study} | {info.name} | {s} | {value} | {n} / {k} |")
        out.append("")
    out += ["## Per configuration", ""]
    if not configs:
        out += ["No paper configuration is among the exports yet.", ""]
    for c in configs:
        fig = problem_figure(c.data, c.problem)
        png = figures / f"{c.name}.png"
        fig.savefig(png, dpi=100)
        rel = Path(_relative(png, doc_dir))
        info = c.info
        seeds = sorted(set(c.data.runs.seed))
        runs = c.runs_per_surrogate
        finished = int(c.table.n.sum()) if not c.table.empty else 0
        entry: dict = next((e for e in manifest.get("configurations", []) if e.get("study") == c.data.study), {})
        planned = entry.get("seeds")
        more = f" (planned: {_list(planned)})" if isinstance(planned, list) and sorted(planned) != seeds else ""
        code = entry.get("code") or []
        ran = f" Run with code {', '.join(_short_commit(x) for x in code)}." if code else ""
        out += [
            f"### {c.name} ({info.name}, d = {c.dim}, {info.measure})",
            "",
            (
                f"Seeds {', '.join(map(str, seeds))}{more}; budget {info.budget} evaluations "
                f"({info.n_init} initial); {finished} of {sum(runs.values())} runs finished.{ran}"
            ),
            "",
            f"![{c.name}]({rel.as_posix()})",
            "",
            "| rank | surrogate | final (mean ± SE) | finished runs |",
            "|---|---|---|---|",
        ]
        out += [
            f"| {int(x['rank'])} | {x.surrogate} | {pm(info.shown(x['mean']), x.se)} | "
            f"{_finished(x.n, runs.get(x.surrogate, x.n))} |"
            for _, x in c.table.iterrows()
        ]
        out += [f"| – | {s} | – | 0 / {k} |" for s, k in runs.items() if s not in set(c.table.surrogate)]
        out.append("")
    out += ["## What was not run, and why", ""]
    entries = manifest.get("configurations", [])
    skipped = [e for e in entries if e.get("status") != "complete" or e.get("reason")]
    if not manifest:
        out += ["No manifest.json next to the results: what was run is only what the tables show.", ""]
    elif not skipped:
        out += [
            (
                f"Every study in the manifest ({', '.join(e.get('study', '?') for e in entries)}) was run in "
                "full; a study not listed there has not been reached yet."
            ),
            "",
        ]
    skipped += unavailable_configurations({e.get("study") for e in entries})
    if skipped:
        out += [
            "| study | status | runs | seeds | surrogates | budget (study's) | reason |",
            "|---|---|---|---|---|---|---|",
        ]
        for e in skipped:
            out.append(
                f"| {e.get('study', '?')} | {e.get('status', '?')} | {_runs(e)} | {_list(e.get('seeds'))} | "
                f"{_list(e.get('surrogates'))} | {e.get('budget', '?')} ({e.get('paper_budget', '?')}) | "
                f"{e.get('reason') or '-'} |"
            )
        out.append("")
    t = campaign_time(configs, alone)
    out += [
        "## Campaign time",
        "",
        (
            f"Busy wall time {_hours(t['busy'])} (from the evaluations' timestamps and each model step's "
            f"fit and acquisition time; gaps over {PAUSE_SECONDS // 60} min with no step in progress count as "
            f"pauses; first to last evaluation {_hours(t['span'])}); "
            f"surrogate fits and acquisitions took {_hours(t['compute'])} of process time."
        ),
        "",
    ]
    return "\n".join(out)


def unavailable_configurations(listed: set) -> list[dict]:
    """Manifest-like entries for the study's configurations whose problem cannot run anywhere
    (``bnnbo.problems.availability.UNAVAILABLE``) and that no manifest entry covers."""
    rows = []
    for problem, config in STUDY.items():
        study = f"paper-{config_name(problem)}"
        if problem in UNAVAILABLE and study not in listed:
            rows.append(
                {
                    "study": study,
                    "status": "unavailable",
                    "seeds": "-",
                    "surrogates": list(config.surrogates),
                    "budget": "-",
                    "paper_budget": config.budget,
                    "reason": UNAVAILABLE[problem],
                }
            )
    return rows


def _short_commit(code: str) -> str:
    """``abc...+dirty`` -> `` `abcdef123456+dirty` ``; a version string stays as it is."""
    dirty = "+dirty" if code.endswith("+dirty") else ""
    head = code.removesuffix("+dirty")
    return f"`{head[:12] if ' ' not in head else head}{dirty}`"


def _runs(entry: dict) -> str:
    """A manifest entry's run states, e.g. ``finished 3, pending 2 (of 5)``."""
    runs = entry.get("runs")
    if not isinstance(runs, dict) or not runs:
        return "-"
    text = ", ".join(f"{k} {v}" for k, v in sorted(runs.items()))
    planned = entry.get("planned_runs")
    return text + (f" (of {planned})" if isinstance(planned, int) else "")


def _finished(n: int, runs: int) -> str:
    return str(n) if n >= runs else f"{n} / {runs}"


def _list(v) -> str:
    return ", ".join(map(str, v)) if isinstance(v, list) else str(v if v is not None else "?")


def _relative(path: Path, base: Path) -> str:
    import os

    return os.path.relpath(path.resolve(), base.resolve())


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="write docs/reproduction.md from exported campaign results")
    p.add_argument("results", help="folder of exports (results/paper) with its manifest.json")
    p.add_argument("--out", default="docs/reproduction.md")
    p.add_argument("--figures", default="docs/figures/reproduction")
    args = p.parse_args(argv)
    try:
        configs, manifest, alone = load_configs(Path(args.results))
        out = Path(args.out)
        text = render(configs, manifest, Path(args.figures), out.parent, alone)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
