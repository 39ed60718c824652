"""What a report is made of, read once from the store: runs, evaluations, problem facts, curves.

Data flows one way (store -> report): everything here reads through ``bnnbo.results`` and the
Store's read methods; nothing is written back. Values stay in the store's maximisation convention
(``trace``: best so far, or dominated hypervolume for several objectives); ``ProblemInfo.shown``
turns them into the problem's own direction only for display.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime, timezone

import numpy as np
import pandas as pd

from bnnbo.errors import BnnboError, ConfigError
from bnnbo.metrics import standard_error
from bnnbo.records import UNFINISHED, RunStatus
from bnnbo.results import load_results, load_runs
from bnnbo.storage import Store

#: standard error of the mean (the tables' and curves')
se = standard_error
#: smallest regret drawn on a log scale (a run that hit the optimum would be -inf)
MIN_REGRET = 1e-12


@dataclass
class ProblemInfo:
    """One problem label of the study; ``optimum`` is the best value or the maximal hypervolume."""

    label: str
    name: str
    objectives: int
    n_init: int
    budget: int
    optimum: float | None = None
    negated: bool = False

    @property
    def metric(self) -> str:
        if self.objectives > 1:
            return "dominated hypervolume"
        return "best value so far" + (" (lower is better)" if self.negated else "")

    @property
    def measure(self) -> str:
        """What a final value is, for tables."""
        if self.objectives > 1:
            return "hypervolume"
        return "best value, " + ("lower" if self.negated else "higher") + " is better"

    def shown(self, value):
        """A value in the store's maximisation convention -> the problem's own direction."""
        return -value if self.negated and self.objectives == 1 else value


@dataclass
class ReportData:
    study: str
    url: str
    runs: pd.DataFrame  # one row per run (bnnbo.results.load_runs) + traceback
    evals: pd.DataFrame  # one row per evaluation (bnnbo.results.load_results)
    problems: dict[str, ProblemInfo]  # by label, in study order
    surrogates: list[str]  # labels, in study order
    created: datetime = field(default_factory=lambda: datetime.now(timezone.utc))

    @property
    def unfinished(self) -> pd.DataFrame:
        return self.runs[self.runs.status.isin([s.value for s in UNFINISHED])]

    @property
    def partial(self) -> bool:
        return not self.unfinished.empty

    def status_counts(self) -> dict[str, int]:
        return self.runs.status.value_counts().to_dict()


def pick_study(store: Store, study: str | None) -> str:
    """``study`` if given, else the most recently updated study in the store."""
    studies = store.studies()
    if not studies:
        raise ConfigError(f"the store {store.url} holds no studies yet (run one first)")
    if study is None:
        return max(studies, key=lambda s: (s["updated_at"], s["id"]))["name"]
    if study not in {s["name"] for s in studies}:
        names = ", ".join(s["name"] for s in studies)
        raise ConfigError(f"no study {study!r} in the store; studies: {names}")
    return study


def load_report_data(url: str | os.PathLike | Store | None, study: str | None = None) -> ReportData:
    """Read a study's runs and evaluations (a running study gives what is committed so far)
    from a store, or from exported files (``bnnbo export``: a file, a folder or a list of them)."""
    from bnnbo.exports import is_export_source

    if not isinstance(url, Store) and is_export_source(url):
        return _from_exports(url, study)
    store = url if isinstance(url, Store) else Store(url, create=False)
    try:
        name = pick_study(store, study)
        runs = load_runs(store, name)
        evals = load_results(store, name)
        runs["traceback"] = _tracebacks(store, runs.run_id.tolist())
    finally:
        if store is not url:
            store.close()
    return _report_data(name, store.url, runs, evals)


def _from_exports(source, study: str | None) -> ReportData:
    from bnnbo.exports import load_exports
    from bnnbo.results import RUN_COLUMNS

    studies, runs, evals = load_exports(source)
    names = [s["name"] for s in studies]
    if study is None:
        study = max(studies, key=lambda s: s["updated_at"] or "")["name"]
    elif study not in names:
        raise ConfigError(f"no study {study!r} in the exports; studies: {', '.join(names)}")
    runs = runs[runs.study == study].reset_index(drop=True)
    evals = evals[evals.study == study].reset_index(drop=True)
    where = source if isinstance(source, (str, os.PathLike)) else ", ".join(map(str, source))
    return _report_data(study, f"export {where}", runs.reindex(columns=RUN_COLUMNS + ["traceback"]), evals)


def _report_data(name: str, url: str, runs: pd.DataFrame, evals: pd.DataFrame) -> ReportData:
    if runs.empty:
        raise ConfigError(f"study {name!r} has no runs yet: nothing to report")
    problems = {
        label: _problem_info(label, rows, evals[evals.problem == label])
        for label, rows in runs.groupby("problem", sort=False)
    }
    return ReportData(name, url, runs, evals, problems, list(dict.fromkeys(runs.surrogate)))


def _tracebacks(store: Store, run_ids: list[int]) -> list[str | None]:
    """load_runs leaves tracebacks out (they are long); the failed-runs table shows their tail."""
    found = store.tracebacks(run_ids)
    return [found.get(i) for i in run_ids]


def _problem_info(label: str, runs: pd.DataFrame, evals: pd.DataFrame) -> ProblemInfo:
    from bnnbo.problems import problem_info

    first = runs.iloc[0]
    n_init = int(evals.groupby("run_id").initial.sum().max()) if len(evals) else 0
    info = ProblemInfo(label, first.problem_name, _objectives(evals), n_init, int(runs.budget.max()))
    try:  # optimum and direction from the registry; a problem no longer registered keeps neither
        p = problem_info(first.problem_name, **(first.problem_options or {}))
    except (BnnboError, ImportError):
        return info
    info.objectives = p.num_objectives
    info.optimum = p.optimal_value if p.num_objectives == 1 else p.max_hv
    info.negated = bool(p.negated)
    return info


def _objectives(evals: pd.DataFrame) -> int:
    return len(evals.y.iloc[0]) if len(evals) else 1


# ---- curves ---------------------------------------------------------------------------------------
def curve_runs(data: ReportData, problem: str, surrogate: str) -> pd.DataFrame:
    """The runs drawn in a curve: every run with evaluations except failed ones (their traces
    stop early and would bias the mean; they are listed in the failed-runs table instead)."""
    r = data.runs
    return r[
        (r.problem == problem) & (r.surrogate == surrogate) & (r.status != RunStatus.FAILED) & (r.n_evaluations > 0)
    ]


def trace_matrix(data: ReportData, run_ids) -> np.ndarray:
    """``runs x evaluations`` traces (maximisation convention), NaN past a run's last evaluation."""
    ev = data.evals[data.evals.run_id.isin(list(run_ids))]
    if ev.empty:
        return np.empty((0, 0))
    return ev.pivot(index="run_id", columns="index", values="trace").to_numpy(dtype=float)


def mean_se(values: np.ndarray) -> pd.DataFrame:
    """Per column of ``runs x evaluations``: mean, standard error (NaN for one run) and the
    number of runs that reached it; column ``evaluation`` counts from 1."""
    seen = ~np.isnan(values)
    n = seen.sum(axis=0)
    # by hand rather than nanmean / nanstd: a column seen by one run is normal here, not a warning
    mean = np.where(seen, values, 0.0).sum(axis=0) / np.maximum(n, 1)
    var = (np.where(seen, values - mean, 0.0) ** 2).sum(axis=0) / np.maximum(n - 1, 1)
    se = np.where(n > 1, np.sqrt(var / np.maximum(n, 1)), np.nan)
    return pd.DataFrame({"evaluation": np.arange(1, len(n) + 1), "mean": mean, "se": se, "n": n})


def curve(data: ReportData, problem: str, surrogate: str, regret: bool = False) -> pd.DataFrame:
    """Mean ± SE over seeds of the displayed trace, or of log10 regret (needs a known optimum)."""
    info = data.problems[problem]
    values = trace_matrix(data, curve_runs(data, problem, surrogate).run_id)
    if regret:
        values = np.log10(np.maximum(info.optimum - values, MIN_REGRET))
    else:
        values = info.shown(values)
    return mean_se(values)
