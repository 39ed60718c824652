"""Reading results back: ``load_results`` (one row per evaluation), ``load_runs`` (one per run),
``summarize`` (the ranking per problem) and ``export_results`` (CSV / Parquet).

Objective values are in the maximisation convention (minimisation problems negated), as the
problems report them. ``trace`` is the best value so far (one objective) or the dominated
hypervolume w.r.t. the problem's reference point (several objectives).
"""

from __future__ import annotations

import json
import math
import os
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
import torch

from bnnbo.errors import ConfigError, UnavailableError
from bnnbo.metrics import final_values, mean_ranks, progress_trace, standard_error
from bnnbo.outputs import check_output_file
from bnnbo.records import EVALUATION_FIELDS, RunStatus
from bnnbo.storage import Store, shown_status
from bnnbo.storage import stale_after as stale_after_seconds

RUN_COLUMNS = [
    "study",
    "run_id",
    "problem",
    "surrogate",
    "seed",
    "problem_name",
    "surrogate_name",
    "status",
    "n_evaluations",
    "budget",
    "best",
    "error",
    "created_at",
    "finished_at",
    "problem_options",
    "heartbeat_at",
]
EVAL_COLUMNS = [
    "run_id",
    "index",
    "batch",
    "initial",
    "x",
    "y",
    "fit_seconds",
    "acq_seconds",
    "diagnostics",
    "created_at",
]
assert set(EVALUATION_FIELDS) <= set(EVAL_COLUMNS)


def _store(url: str | os.PathLike | Store | None) -> tuple[Store, bool]:
    if isinstance(url, Store):
        return url, False
    return Store(url, create=False), True


def load_runs(
    url: str | os.PathLike | Store | None = None,
    study: str | None = None,
    include_superseded: bool = False,
    stale_after: float | None = None,
) -> pd.DataFrame:
    """One row per run: labels, seed, status, evaluations so far, budget, best, error.

    A "running" run whose heartbeat is older than ``stale_after`` seconds (default
    ``$BNNBO_STALE_SECONDS`` or 60) has lost its driver: its status reads "interrupted", as
    after Ctrl-C; ``bnnbo run`` resumes it."""
    grace = stale_after_seconds(stale_after)
    store, own = _store(url)
    try:
        _check_study(store, study)
        rows = store.run_rows(study, include_superseded)
    finally:
        if own:
            store.close()
    now = datetime.now(timezone.utc)
    status = RUN_COLUMNS.index("status")
    table = [
        (
            *r[:status],
            shown_status(r[status], r.heartbeat_at, r.updated_at, now, grace),
            *r[status + 1 : -3],
            r.spec.get("problem_options", {}),
            r.heartbeat_at,
        )
        for r in rows
    ]
    return pd.DataFrame(table, columns=RUN_COLUMNS)


def load_results(
    url: str | os.PathLike | Store | None = None, study: str | None = None, include_superseded: bool = False
) -> pd.DataFrame:
    """One row per evaluation, in run order, with the run's labels and a ``trace`` column.

    Args:
        url: a SQLAlchemy URL, a SQLite file path or a Store (default: ``$BNNBO_DB`` or ``bnnbo.db``).
        study: only this study (default: every study in the store).
    """
    store, own = _store(url)
    try:
        runs = load_runs(store, study, include_superseded)
        only = runs["run_id"].tolist() if study is not None or not include_superseded else None
        rows = store.evaluation_rows(EVAL_COLUMNS, only)
    finally:
        if own:
            store.close()
    evals = pd.DataFrame([tuple(r) for r in rows], columns=EVAL_COLUMNS)
    df = runs.drop(columns=["created_at", "finished_at", "error", "heartbeat_at"]).merge(
        evals, on="run_id", how="inner"
    )
    df["trace"] = _traces(df)
    return df.reset_index(drop=True)


def _check_study(store: Store, study: str | None) -> None:
    if study is not None and store.study_id(study) is None:
        names = ", ".join(s["name"] for s in store.studies()) or "none"
        raise ConfigError(f"no study {study!r} in the store; studies: {names}")


def _traces(df: pd.DataFrame) -> list[float]:
    """Best so far / hypervolume after each evaluation, per run (rows are in run order)."""
    from bnnbo.problems import problem_info

    out: list[float] = []
    refs: dict[str, torch.Tensor | None] = {}
    for _, rows in df.groupby("run_id", sort=False):
        Y = torch.tensor(rows["y"].tolist(), dtype=torch.float64)
        ref = None
        if Y.shape[-1] > 1:
            name, options = rows["problem_name"].iloc[0], rows["problem_options"].iloc[0]
            key = json.dumps([name, options], sort_keys=True)
            if key not in refs:
                try:
                    refs[key] = problem_info(name, **options).ref_point
                except Exception:  # noqa: BLE001 - a problem no longer registered: infer the ref point
                    refs[key] = None
            ref = refs[key]
        out.extend(progress_trace(Y, ref).tolist())
    return out


def summarize(
    url: str | os.PathLike | Store | None = None, study: str | None = None, run_ids: list[int] | None = None
) -> pd.DataFrame:
    """Per problem and surrogate: runs, finished, failed, mean ± SE of the final best (or
    hypervolume) over finished runs, mean fit seconds per model-based iteration, mean rank over
    seeds; ranked by that mean rank, as the report ranks (``bnnbo.metrics``)."""
    store, own = _store(url)
    try:
        runs, evals = load_runs(store, study), load_results(store, study)
    finally:
        if own:
            store.close()
    if run_ids is not None:
        runs, evals = runs[runs.run_id.isin(run_ids)], evals[evals.run_id.isin(run_ids)]
    fits = evals[~evals.initial].groupby(["run_id", "batch"]).fit_seconds.first().groupby("run_id").mean()
    m = evals.groupby("run_id").y.first().map(len)
    finals, ranks = final_values(runs, evals), mean_ranks(runs, evals)
    rows = []
    for (problem, surrogate), g in runs.groupby(["problem", "surrogate"], sort=False):
        v = finals[(finals.problem == problem) & (finals.surrogate == surrogate)].final
        rows.append(
            {
                "problem": problem,
                "surrogate": surrogate,
                "runs": len(g),
                "finished": len(v),
                "failed": int((g.status == RunStatus.FAILED).sum()),
                "mean": v.mean() if len(v) else math.nan,
                "se": standard_error(v),
                "fit_seconds": fits.reindex(g.run_id).mean(),
                "objectives": int(m.reindex(g.run_id).max()) if m.reindex(g.run_id).notna().any() else 1,
                "mean_rank": ranks.at[surrogate, problem]
                if surrogate in ranks.index and problem in ranks.columns
                else math.nan,
            }
        )
    out = pd.DataFrame(
        rows,
        columns=[
            "problem",
            "surrogate",
            "runs",
            "finished",
            "failed",
            "mean",
            "se",
            "fit_seconds",
            "objectives",
            "mean_rank",
        ],
    )
    # the report's ranking (bnnbo.metrics): by mean per-seed rank, not by the mean value
    out["rank"] = out.groupby("problem")["mean_rank"].rank(method="min").astype("Int64")
    return out.sort_values(["problem", "rank"], kind="stable", na_position="last").reset_index(drop=True)


def export_results(
    path: str | os.PathLike,
    url: str | os.PathLike | Store | None = None,
    study: str | None = None,
    fmt: str | None = None,
) -> Path:
    """Write ``load_results`` to CSV or Parquet (by ``fmt`` or the file's suffix), with the runs
    and studies as metadata (``bnnbo.exports``): ``bnnbo report`` renders such files."""
    path = check_output_file(path, "export file")
    fmt = (fmt or path.suffix.lstrip(".") or "csv").lower()
    if fmt not in ("csv", "parquet"):
        raise ConfigError(f"export format {fmt!r}; expected 'csv' or 'parquet' (or a .csv / .parquet path)")
    from bnnbo.exports import export_metadata, sidecar

    store, own = _store(url)
    try:
        df = load_results(store, study)
        meta = export_metadata(store, study)  # runs, settings, timings, study files: for reports
    finally:
        if own:
            store.close()
    for col in ("diagnostics", "problem_options"):  # free-form dicts: JSON text in both formats
        df[col] = df[col].map(json.dumps)
    df.attrs["bnnbo"] = meta
    try:
        if fmt == "csv":
            df["x"], df["y"] = df["x"].map(json.dumps), df["y"].map(json.dumps)
            df.to_csv(path, index=False)
            sidecar(path).write_text(json.dumps(meta, indent=1) + "\n")
            return path
        df.to_parquet(path, index=False)
    except ImportError as exc:
        raise UnavailableError(f"Parquet export needs pyarrow: pip install 'bnnbo[parquet]' ({exc})") from None
    except OSError as exc:  # checked above; still possible (disk full, a race)
        raise ConfigError(f"cannot write {str(path)!r}: {exc.strerror or exc}") from None
    return path
