"""What the dashboard shows, read from the store: plain dicts, ready for JSON and templates.

Everything goes through the report's readers (``bnnbo.report.data``) and tables
(``bnnbo.report.tables`` / ``diagnostics``), so the dashboard and ``bnnbo report`` agree on
every number. A study's ``ReportData`` is cached until its runs change (one cheap aggregate
query per request decides), so polling a finished study costs almost nothing.
"""

from __future__ import annotations

import math
import threading
from datetime import datetime, timezone
from typing import Any

import numpy as np
import pandas as pd

from bnnbo.errors import ConfigError
from bnnbo.records import RunStatus
from bnnbo.report.data import ReportData, curve, curve_runs, load_report_data
from bnnbo.report.diagnostics import KEYS, auto_choices, diagnostics_table, flatten, number, used_candidate
from bnnbo.report.plots import COLORS, color_of
from bnnbo.report.tables import (
    STATES,
    ReportTable,
    failed_runs,
    final_best,
    fmt,
    iterations,
    mean_ranks,
    status,
    timing,
)
from bnnbo.results import load_results, load_runs
from bnnbo.storage import Store, shown_status, stale_after


class NotFound(ConfigError):
    """No such study or run in the store (the app answers 404)."""


def clean(value: Any) -> Any:
    """Strict JSON: NaN / inf -> None, numpy scalars -> Python, timestamps -> ISO text."""
    if isinstance(value, dict):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean(v) for v in value]
    if isinstance(value, (np.ndarray, pd.Series, pd.Index)):
        return clean(value.tolist())
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, (np.integer, int)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, (datetime, pd.Timestamp)):
        return _utc(value).isoformat()
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    return value if isinstance(value, str) else str(value)


def _utc(t) -> datetime:
    t = pd.Timestamp(t).to_pydatetime()
    return t if t.tzinfo is not None else t.replace(tzinfo=timezone.utc)  # SQLite drops the zone


def duration(seconds: float | None) -> str:
    """``3 h 05 min``, ``4 min 10 s``, ``12 s``."""
    if seconds is None or not math.isfinite(seconds):
        return "–"
    s = round(seconds)
    if s >= 3600:
        return f"{s // 3600} h {s % 3600 // 60:02d} min"
    if s >= 60:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s} s"


#: the report's notes that speak of a written report; here the page is live
NOTES = {"status": "State of every run now."}


def table_dict(t: ReportTable) -> dict[str, Any]:
    """A report table as the templates and the JSON show it (display strings, as in the report)."""
    return {
        "key": t.key,
        "title": t.title,
        "note": NOTES.get(t.key, t.note),
        "columns": [str(c) for c in t.display.columns],
        "rows": [[clean(v) for v in row] for row in t.display.itertuples(index=False)],
    }


class DashboardData:
    """Read-only views of one store; safe to share between the server's threads."""

    def __init__(self, store: Store):
        self.store = store
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[str, ReportData]] = {}
        self._views: dict[str, tuple[str, ReportData, dict[str, Any]]] = {}

    # ---- studies ------------------------------------------------------------------------------
    def studies(self) -> list[dict[str, Any]]:
        """Every study: run counts by state, evaluations done / planned, elapsed time."""
        rows, running = self.store.study_overview()
        now = datetime.now(timezone.utc)
        grace = stale_after()
        stale: dict[int, int] = {}  # running runs whose driver stopped beating: shown interrupted
        for sid, beat, updated in running:
            if shown_status(RunStatus.RUNNING.value, beat, updated, now, grace) == RunStatus.INTERRUPTED:
                stale[sid] = stale.get(sid, 0) + 1
        out: dict[int, dict[str, Any]] = {}
        for sid, name, description, state, count, done, planned, first, last in rows:
            s = out.setdefault(
                sid,
                {
                    "name": name,
                    "description": description or "",
                    "runs": 0,
                    "counts": {k: 0 for k in STATES},
                    "evaluations": 0,
                    "planned": 0,
                    "started": None,
                    "updated": None,
                },
            )
            if state is None or state == RunStatus.SUPERSEDED:
                continue
            s["counts"][state] = s["counts"].get(state, 0) + count
            s["runs"] += count
            s["evaluations"] += int(done or 0)
            s["planned"] += int(planned or 0)
            if first is not None:
                s["started"] = min(filter(None, [s["started"], _utc(first)]))
            if last is not None:
                s["updated"] = max(filter(None, [s["updated"], _utc(last)]))
        for sid, n in stale.items():
            counts = out[sid]["counts"]
            counts[RunStatus.RUNNING.value] -= n
            counts[RunStatus.INTERRUPTED.value] = counts.get(RunStatus.INTERRUPTED.value, 0) + n
        for s in out.values():
            active = s["counts"].get(RunStatus.RUNNING.value, 0) > 0
            end = now if active else s["updated"]
            s["elapsed_seconds"] = (end - s["started"]).total_seconds() if s["started"] and end else None
            s["elapsed"] = duration(s["elapsed_seconds"])
            s["progress"] = s["evaluations"] / s["planned"] if s["planned"] else 0.0
            s["active"] = active
        return [clean(s) for s in out.values()]

    def _version(self, study: str) -> tuple:
        return self.store.study_version(study)

    def report_data(self, study: str) -> ReportData:
        """The study as the report reads it; re-read only when its runs changed."""
        return self._load(study)[1]

    def _load(self, study: str) -> tuple[str, ReportData]:
        """(version, data); the version is taken before reading, so a change while reading shows
        as a new version on the next request rather than being missed."""
        if self.store.study_id(study) is None:
            raise NotFound(f"no study {study!r} in the store")
        version = "|".join(map(str, self._version(study)))
        with self._lock:
            hit = self._cache.get(study)
        if hit is not None and hit[0] == version:
            return hit
        data = load_report_data(self.store, study)
        with self._lock:
            self._cache[study] = (version, data)
        return version, data

    # ---- one study ----------------------------------------------------------------------------
    def study(self, name: str) -> dict[str, Any]:
        """Plots (mean ± SE per surrogate and problem), the report's tables, every run."""
        version, data = self._load(name)
        with self._lock:
            hit = self._views.get(name)
        if hit is not None and hit[1] is data:
            return hit[2]
        view = self._study(data, version)
        with self._lock:
            self._views[name] = (version, data, view)
        return view

    def _study(self, data: ReportData, version: str) -> dict[str, Any]:
        counts = {k: 0 for k in STATES} | data.status_counts()
        problems = []
        for label, info in data.problems.items():
            series = []
            for surrogate in data.surrogates:
                drawn = curve_runs(data, label, surrogate)
                if drawn.empty:
                    continue
                c = curve(data, label, surrogate)
                full = int((c.n == c.n.max()).sum())  # runs only grow: every run reached a prefix
                series.append(
                    {
                        "surrogate": surrogate,
                        "color": color_of(data, surrogate),
                        "runs": len(drawn),
                        "unfinished": int((drawn.status != RunStatus.FINISHED).sum()),
                        "x": c.evaluation,
                        "mean": c["mean"],
                        "se": c.se,
                        "n": c.n,
                        "full": full,
                    }
                )
            problems.append(
                {
                    "label": label,
                    "name": info.name,
                    "metric": info.metric,
                    "objectives": info.objectives,
                    "n_init": info.n_init,
                    "budget": info.budget,
                    "optimum": info.shown(info.optimum) if info.optimum is not None else None,
                    "series": series,
                }
            )
        runs = data.runs
        last = data.evals.groupby("run_id").trace.last()  # the report's final value, so far
        tables = [
            final_best(data),
            mean_ranks(data),
            status(data),
            timing(data),
            diagnostics_table(data),
            auto_choices(data),
        ]
        failed = failed_runs(data)
        return clean(
            {
                "study": data.study,
                "version": version,
                "surrogates": data.surrogates,
                "problems": problems,
                "counts": counts,
                "runs_total": len(runs),
                "evaluations": int(runs.n_evaluations.sum()),
                "planned": int(runs.budget.sum()),
                "latest_evaluation": data.evals.created_at.max() if len(data.evals) else None,
                "tables": [table_dict(t) for t in tables],
                "failed": [
                    {
                        "run_id": int(i),
                        "problem": p,
                        "surrogate": s,
                        "seed": int(seed),
                        "error": e,
                        "evaluations": f"{n} / {b}",
                        "traceback": _tail(tb),
                    }
                    for i, p, s, seed, e, n, b, tb in zip(
                        runs[runs.status == RunStatus.FAILED].run_id,
                        failed.data.problem,
                        failed.data.surrogate,
                        failed.data.seed,
                        failed.data.error,
                        failed.data.evaluations,
                        failed.data.budget,
                        failed.data.traceback,
                    )
                ],
                "runs": [
                    {
                        "id": int(r.run_id),
                        "problem": r.problem,
                        "surrogate": r.surrogate,
                        "seed": int(r.seed),
                        "status": r.status,
                        "n_evaluations": int(r.n_evaluations),
                        "budget": int(r.budget),
                        "best": fmt(data.problems[r.problem].shown(last[r.run_id])) if r.run_id in last.index else "–",
                        "error": r.error if isinstance(r.error, str) else "",
                    }
                    for r in runs.itertuples()
                ],
            }
        )

    # ---- one run ------------------------------------------------------------------------------
    def run(self, run_id: int) -> dict[str, Any]:
        """A run's trace, per-iteration seconds and diagnostics, auto's choices."""
        row = self.store.run_detail(run_id)
        if row is None:
            raise NotFound(f"no run {run_id} in the store")
        study, state, traceback, settings, started, updated = row
        data = self.report_data(study)
        if state == RunStatus.SUPERSEDED:  # the report leaves superseded runs out: read this one alone
            runs = load_runs(self.store, study, include_superseded=True)
            evals = load_results(self.store, study, include_superseded=True)
        else:
            runs, evals = data.runs, data.evals
        r = runs[runs.run_id == run_id].iloc[0]
        ev = evals[evals.run_id == run_id].sort_values("index")
        info = data.problems.get(r.problem)
        shown = info.shown if info is not None else (lambda v: v)
        y = [shown(v[0]) for v in ev.y] if len(ev) and len(ev.y.iloc[0]) == 1 else None
        its = iterations(ReportData(data.study, data.url, runs, ev, data.problems, data.surrogates))
        return clean(
            {
                "run": {
                    "id": run_id,
                    "study": study,
                    "problem": r.problem,
                    "problem_name": r.problem_name,
                    "surrogate": r.surrogate,
                    "surrogate_name": r.surrogate_name,
                    "seed": int(r.seed),
                    "status": r.status,
                    "n_evaluations": int(r.n_evaluations),
                    "budget": int(r.budget),
                    "best": fmt(shown(ev.trace.iloc[-1])) if len(ev) else "–",
                    "error": r.error if isinstance(r.error, str) else "",
                    "traceback": _tail(traceback),
                    "settings": settings or {},
                    "started": started,
                    "updated": updated,
                    "elapsed": duration((_utc(updated) - _utc(started)).total_seconds() if started else None),
                },
                "metric": info.metric if info is not None else "best value so far / hypervolume",
                "n_init": int(ev.initial.sum()),
                "color": color_of(data, r.surrogate) if r.surrogate in data.surrogates else COLORS[0],
                "evaluations": {
                    "x": list(range(1, len(ev) + 1)),
                    "trace": [shown(v) for v in ev.trace],
                    "y": y,
                    "initial": ev.initial.astype(bool).tolist(),
                },
                "iterations": _iteration_rows(its),
            }
        )


def _iteration_rows(its: pd.DataFrame) -> dict[str, Any]:
    """Per model-based iteration: seconds, the diagnostics the report summarises, auto's choice."""
    diags = [flatten(d) if isinstance(d, dict) else {} for d in its.diagnostics]
    keys = list(
        dict.fromkeys(k for d in diags for k, v in d.items() if k.rsplit(".", 1)[-1] in KEYS and number(v) is not None)
    )
    choices = [used_candidate(d) for d in diags]
    candidates = list(dict.fromkeys(c for d in diags for c in (_scores(d) or {})))
    scores = {
        c: [number((_scores(d) or {}).get(c)) if d.get("scored", True) else None for d in diags] for c in candidates
    }
    return {
        "iteration": list(range(1, len(its) + 1)),
        "batch": its.batch.tolist(),
        "evaluations": (its["index"] + 1).tolist(),
        "fit_seconds": its.fit_seconds.tolist(),
        "acq_seconds": its.acq_seconds.tolist(),
        "diagnostics": {k: [number(d.get(k)) for d in diags] for k in keys},
        "choice": choices if any(choices) else None,
        "scores": scores,
    }


def _scores(d: dict[str, Any]) -> dict[str, Any] | None:
    """auto's per-candidate scores, flattened to ``scores.<candidate>`` keys by ``flatten``."""
    out = {k.split(".", 1)[1]: v for k, v in d.items() if k.startswith("scores.")}
    return out or None


def _tail(text: str | None, lines: int = 25) -> str:
    if not isinstance(text, str) or not text:
        return ""
    return "\n".join(str(text).rstrip().splitlines()[-lines:])
