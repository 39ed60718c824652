"""The result store behind one small interface: ``Store(url)``.

One SQLite file (``bnnbo.db``, WAL mode) by default; any SQLAlchemy URL (e.g.
``postgresql+psycopg://user@host/db``) for shared use. The driver process is the only writer:
workers return results and the driver commits each step (its evaluations, the surrogate state
after it and the run's counters) in one transaction, so a crash loses at most the step in flight.

``Store`` is the only door to the data: it is the one module that imports the ORM schema
(``bnnbo.schema``); readers (results, report, dashboard, exports, plan) use its read methods.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.engine import Row
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bnnbo.errors import BnnboError, ConfigError
from bnnbo.records import EVALUATION_FIELDS, RunStatus, jsonable
from bnnbo.schema import (
    EvaluationRow,
    RunRow,
    RunStateRow,
    StudyRow,
    _sqlite_path,
    explain_db_error,
    is_memory_url,
    open_engine,
    resolve_url,
)
from bnnbo.schema import utc_now as _now
from bnnbo.study import RunSpec, Study

# the URL helpers callers need, without reaching into the schema
__all__ = [
    "Run",
    "RunRecord",
    "Store",
    "StoreConflictError",
    "explain_db_error",
    "heartbeat_seconds",
    "is_memory_url",
    "resolve_url",
    "shown_status",
    "sqlite_path",
    "stale_after",
]


def sqlite_path(url: str | os.PathLike | None) -> Path | None:
    """The file of a SQLite store URL (None for another database or an in-memory one)."""
    return _sqlite_path(resolve_url(url))


#: a "running" run whose heartbeat is older than this many seconds is shown as interrupted
STALE_AFTER_ENV, STALE_AFTER = "BNNBO_STALE_SECONDS", 60.0
#: how often the driver writes the heartbeat of each run it is advancing, also mid-fit
HEARTBEAT_ENV, HEARTBEAT_SECONDS = "BNNBO_HEARTBEAT_SECONDS", 10.0


def _seconds(value: float | str | None, env: str, default: float, what: str) -> float:
    raw = value if value is not None else (os.environ.get(env) or default)
    try:
        seconds = float(raw)
    except (TypeError, ValueError):
        seconds = float("nan")
    if not (math.isfinite(seconds) and seconds > 0):
        source = f"${env}" if value is None else what
        raise ConfigError(f"{source} = {raw!r}; expected a number of seconds > 0")
    return seconds


def stale_after(value: float | str | None = None) -> float:
    """The grace period in seconds: ``value``, else ``$BNNBO_STALE_SECONDS``, else 60."""
    return _seconds(value, STALE_AFTER_ENV, STALE_AFTER, "--stale-after")


def heartbeat_seconds(value: float | str | None = None) -> float:
    """The heartbeat interval: ``value``, else ``$BNNBO_HEARTBEAT_SECONDS``, else 10."""
    return _seconds(value, HEARTBEAT_ENV, HEARTBEAT_SECONDS, "heartbeat interval")


def shown_status(status: str, heartbeat: datetime | None, updated: datetime | None, now: datetime, grace: float) -> str:
    """``status``, except "interrupted" for a "running" run whose driver stopped beating
    (its last heartbeat, or its last update in a store older than heartbeats, is stale)."""
    last = heartbeat or updated
    if status != RunStatus.RUNNING or last is None:
        return status
    if last.tzinfo is None:  # SQLite gives naive datetimes; they were written in UTC
        last = last.replace(tzinfo=timezone.utc)
    return RunStatus.INTERRUPTED.value if (now - last).total_seconds() > grace else status


class StoreConflictError(BnnboError, RuntimeError):
    """The store already holds what this process tried to write (two writers on one study)."""


@dataclass(frozen=True)
class Run:
    """A snapshot of one run as stored (``dataclasses.replace`` for a changed copy)."""

    id: int
    spec: RunSpec
    status: RunStatus
    n_evaluations: int
    best: float | None = None
    error: str | None = None

    @property
    def cell(self) -> tuple[str, str, int]:
        return (self.spec.problem, self.spec.surrogate, self.spec.seed)

    @property
    def done(self) -> bool:
        return self.n_evaluations >= self.spec.budget


RunRecord = Run  # the name before issue 15


def _record(row: RunRow) -> Run:
    return Run(
        id=row.id,
        spec=RunSpec(**row.spec),
        status=RunStatus(row.status),
        n_evaluations=row.n_evaluations,
        best=row.best,
        error=row.error,
    )


class Store:
    """Studies, runs, evaluations and run state in one SQLAlchemy database.

    Args:
        url: SQLAlchemy URL or a SQLite file path; default ``$BNNBO_DB`` or ``sqlite:///bnnbo.db``.
        create: create the schema when missing (False for read-only commands).
        readonly: connect read-only (the dashboard): writes fail, the writer is never blocked.
    """

    def __init__(self, url: str | os.PathLike | None = None, create: bool = True, readonly: bool = False):
        self.url = resolve_url(url)
        self.engine = open_engine(self.url, create=create, readonly=readonly)

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _session(self) -> Session:
        return Session(self.engine, expire_on_commit=False)

    # ---- studies ---------------------------------------------------------------------------
    def save_study(self, study: Study) -> int:
        """Create the study or update its stored source text; return its id."""
        with self._session() as s, s.begin():
            row = s.scalar(select(StudyRow).where(StudyRow.name == study.name))
            if row is None:
                row = StudyRow(name=study.name)
                s.add(row)
            row.description, row.source, row.updated_at = study.description, study.source, _now()
            s.flush()
            return row.id

    def study_id(self, name: str) -> int | None:
        with self._session() as s:
            return s.scalar(select(StudyRow.id).where(StudyRow.name == name))

    def studies(self, grace: float | None = None) -> list[dict[str, Any]]:
        """One dict per study: name, updated_at and a count of runs per status ("running" runs
        with a heartbeat older than ``grace`` seconds, default ``stale_after()``, count as
        "interrupted")."""
        grace = stale_after(grace)
        with self._session() as s:
            rows = s.execute(select(StudyRow.id, StudyRow.name, StudyRow.updated_at).order_by(StudyRow.id)).all()
            counts = s.execute(
                select(RunRow.study_id, RunRow.status, func.count())
                .where(RunRow.status != RunStatus.RUNNING.value)
                .group_by(RunRow.study_id, RunRow.status)
            ).all()
            running = s.execute(
                select(RunRow.study_id, RunRow.heartbeat_at, RunRow.updated_at).where(
                    RunRow.status == RunStatus.RUNNING.value
                )
            ).all()
        now = _now()
        tally: list[tuple[int, str, int]] = [(sid, status, count) for sid, status, count in counts]
        tally += [(sid, shown_status(RunStatus.RUNNING.value, hb, up, now, grace), 1) for sid, hb, up in running]
        by_run: dict[int, dict[str, int]] = {i: {} for i, _, _ in rows}
        out = [{"id": i, "name": n, "updated_at": u, "runs": by_run[i]} for i, n, u in rows]
        for sid, status, count in tally:
            by_run[sid][status] = by_run[sid].get(status, 0) + count
        return out

    # ---- runs ------------------------------------------------------------------------------
    def runs(self, study_id: int, include_superseded: bool = False) -> list[Run]:
        q = select(RunRow).where(RunRow.study_id == study_id).order_by(RunRow.id)
        if not include_superseded:
            q = q.where(RunRow.status != RunStatus.SUPERSEDED.value)
        with self._session() as s:
            return [_record(r) for r in s.scalars(q)]

    def add_run(self, study_id: int, spec: RunSpec) -> Run:
        row = RunRow(
            study_id=study_id,
            problem=spec.problem,
            surrogate=spec.surrogate,
            seed=spec.seed,
            problem_name=spec.problem_name,
            surrogate_name=spec.surrogate_name,
            settings=spec.resolved_settings,
            spec=dataclasses.asdict(spec),
            budget=spec.budget,
        )
        with self._session() as s, s.begin():
            s.add(row)
            s.flush()
            return _record(row)

    def update_spec(self, run_id: int, spec: RunSpec) -> None:
        """Store a spec whose config() is unchanged (e.g. more iterations)."""
        self._update(run_id, spec=dataclasses.asdict(spec), budget=spec.budget)

    def set_status(
        self, run_id: int, status: RunStatus | str, error: str | None = None, traceback: str | None = None
    ) -> None:
        status = RunStatus(status)
        values: dict[str, Any] = {"status": status.value, "error": error, "traceback": traceback}
        if status == RunStatus.RUNNING:
            values["started_at"] = values["heartbeat_at"] = _now()
        if status == RunStatus.FINISHED:
            values["finished_at"] = _now()
        self._update(run_id, **values)

    def heartbeat(self, run_ids: list[int]) -> None:
        """The driver is alive and advancing these runs (only "running" ones are touched)."""
        if run_ids:
            with self._session() as s, s.begin():
                s.execute(
                    update(RunRow)
                    .where(RunRow.id.in_(run_ids), RunRow.status == RunStatus.RUNNING.value)
                    .values(heartbeat_at=_now())
                )

    def _update(self, run_id: int, **values: Any) -> None:
        with self._session() as s, s.begin():
            s.execute(update(RunRow).where(RunRow.id == run_id).values(updated_at=_now(), **values))

    # ---- evaluations -----------------------------------------------------------------------
    def history(self, run_id: int) -> tuple[list[dict[str, Any]], bytes | None]:
        """The run's evaluations in order (dicts as ``commit_step`` takes them) and its state blob."""
        with self._session() as s:
            rows = s.scalars(
                select(EvaluationRow).where(EvaluationRow.run_id == run_id).order_by(EvaluationRow.index)
            ).all()
            state = s.get(RunStateRow, run_id)
        evals = [{k: getattr(r, k) for k in EVALUATION_FIELDS} for r in rows]
        return evals, (state.blob if state is not None else None)

    def commit_step(
        self,
        run_id: int,
        evaluations: list[dict[str, Any]],
        state: bytes | None,
        best: float | None,
        status: RunStatus | str,
    ) -> None:
        """One transaction: the step's evaluations, the state after it, the run's counters.

        Raises StoreConflictError (and stores nothing) when one of the evaluations is stored
        already: another driver is advancing the same run.
        """
        try:
            self._commit_step(run_id, evaluations, state, best, status)
        except IntegrityError:
            raise StoreConflictError(
                f"run {run_id}: evaluation(s) {evaluations[0]['index']}..{evaluations[-1]['index']} are "
                "stored already; is another `bnnbo run` working on this study? Run one driver per study "
                "(use --workers or --scheduler to compute in parallel)."
            ) from None

    def _commit_step(
        self,
        run_id: int,
        evaluations: list[dict[str, Any]],
        state: bytes | None,
        best: float | None,
        status: RunStatus | str,
    ) -> None:
        status = RunStatus(status)
        n = evaluations[-1]["index"] + 1
        with self._session() as s, s.begin():
            for e in evaluations:
                s.add(EvaluationRow(run_id=run_id, **{**e, "diagnostics": jsonable(e["diagnostics"])}))
            s.merge(RunStateRow(run_id=run_id, n_evaluations=n, blob=state, updated_at=_now()))
            values: dict[str, Any] = {
                "best": best,
                "status": status.value,
                "n_evaluations": n,
                "updated_at": _now(),
                "heartbeat_at": _now(),
                "error": None,
                "traceback": None,
            }
            if status == RunStatus.FINISHED:
                values["finished_at"] = _now()
            s.execute(update(RunRow).where(RunRow.id == run_id).values(**values))

    # ---- reading (results, report, dashboard, exports, plan) -------------------------------
    def run_rows(self, study: str | None = None, include_superseded: bool = False) -> list[Row]:
        """One row per run (in id order), with its study's name: study, id, problem, surrogate,
        seed, problem_name, surrogate_name, status (as stored), n_evaluations, budget, best,
        error, created_at, finished_at, spec, heartbeat_at, updated_at."""
        q = (
            select(
                StudyRow.name.label("study"),
                RunRow.id,
                RunRow.problem,
                RunRow.surrogate,
                RunRow.seed,
                RunRow.problem_name,
                RunRow.surrogate_name,
                RunRow.status,
                RunRow.n_evaluations,
                RunRow.budget,
                RunRow.best,
                RunRow.error,
                RunRow.created_at,
                RunRow.finished_at,
                RunRow.spec,
                RunRow.heartbeat_at,
                RunRow.updated_at,
            )
            .join(StudyRow, StudyRow.id == RunRow.study_id)
            .order_by(RunRow.id)
        )
        if study is not None:
            q = q.where(StudyRow.name == study)
        if not include_superseded:
            q = q.where(RunRow.status != RunStatus.SUPERSEDED.value)
        with self.engine.connect() as conn:
            return list(conn.execute(q).all())

    def evaluation_rows(self, columns: Sequence[str], run_ids: Sequence[int] | None = None) -> list[Row]:
        """The evaluations' ``columns`` (EvaluationRow attributes), by run and index; only those
        of ``run_ids`` when given."""
        q = select(*(getattr(EvaluationRow, c) for c in columns)).order_by(EvaluationRow.run_id, EvaluationRow.index)
        if run_ids is not None:
            q = q.where(EvaluationRow.run_id.in_(list(run_ids)))
        with self.engine.connect() as conn:
            return list(conn.execute(q).all())

    def tracebacks(self, run_ids: Sequence[int]) -> dict[int, str | None]:
        """run id -> the traceback of its failure (None when it has none)."""
        with self.engine.connect() as conn:
            return dict(conn.execute(select(RunRow.id, RunRow.traceback).where(RunRow.id.in_(list(run_ids)))).all())

    def runs_with_state(self, run_ids: Sequence[int]) -> set[int]:
        """Those of ``run_ids`` that have a stored surrogate state."""
        with self.engine.connect() as conn:
            return set(
                conn.scalars(
                    select(RunStateRow.run_id).where(
                        RunStateRow.run_id.in_(list(run_ids)), RunStateRow.blob.is_not(None)
                    )
                ).all()
            )

    def study_overview(self) -> tuple[list[Row], list[Row]]:
        """Per study and stored run state: (study id, name, description, status, runs,
        evaluations, planned evaluations, first start, last update); and per "running" run:
        (study id, heartbeat_at, updated_at), to tell which lost their driver."""
        q = (
            select(
                StudyRow.id,
                StudyRow.name,
                StudyRow.description,
                RunRow.status,
                func.count(RunRow.id),
                func.sum(RunRow.n_evaluations),
                func.sum(RunRow.budget),
                func.min(func.coalesce(RunRow.started_at, RunRow.created_at)),
                func.max(RunRow.updated_at),
            )
            .join(RunRow, RunRow.study_id == StudyRow.id, isouter=True)
            .group_by(StudyRow.id, StudyRow.name, StudyRow.description, RunRow.status)
            .order_by(StudyRow.id)
        )
        with self.engine.connect() as conn:
            rows = list(conn.execute(q).all())
            running = list(
                conn.execute(
                    select(RunRow.study_id, RunRow.heartbeat_at, RunRow.updated_at).where(
                        RunRow.status == RunStatus.RUNNING.value
                    )
                ).all()
            )
        return rows, running

    def study_version(self, study: str) -> tuple:
        """(runs, evaluations, last update) of a study: changes whenever its runs do."""
        q = (
            select(func.count(RunRow.id), func.sum(RunRow.n_evaluations), func.max(RunRow.updated_at))
            .join(StudyRow, StudyRow.id == RunRow.study_id)
            .where(StudyRow.name == study)
        )
        with self.engine.connect() as conn:
            return tuple(conn.execute(q).one())

    def run_detail(self, run_id: int) -> Row | None:
        """(study name, status, traceback, settings, started, updated) of one run; None if absent."""
        q = (
            select(
                StudyRow.name,
                RunRow.status,
                RunRow.traceback,
                RunRow.settings,
                func.coalesce(RunRow.started_at, RunRow.created_at),
                RunRow.updated_at,
            )
            .join(StudyRow, StudyRow.id == RunRow.study_id)
            .where(RunRow.id == run_id)
        )
        with self.engine.connect() as conn:
            return conn.execute(q).first()

    def export_documents(self, study: str | None = None) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Studies and their runs (not superseded ones) as dicts of every stored field
        (timestamps as datetimes; ``status`` as shown, see ``shown_status``)."""
        q = select(StudyRow).order_by(StudyRow.id)
        if study is not None:
            q = q.where(StudyRow.name == study)
        runs_q = (
            select(RunRow, StudyRow.name)
            .join(StudyRow, StudyRow.id == RunRow.study_id)
            .where(RunRow.status != RunStatus.SUPERSEDED.value)
            .order_by(RunRow.id)
        )
        if study is not None:
            runs_q = runs_q.where(StudyRow.name == study)
        now, grace = datetime.now(timezone.utc), stale_after()
        with self._session() as s:
            studies = [
                {
                    "name": r.name,
                    "description": r.description,
                    "source": r.source,
                    "created_at": r.created_at,
                    "updated_at": r.updated_at,
                }
                for r in s.scalars(q)
            ]
            runs = [
                {
                    "study": name,
                    "run_id": r.id,
                    "problem": r.problem,
                    "surrogate": r.surrogate,
                    "seed": r.seed,
                    "problem_name": r.problem_name,
                    "surrogate_name": r.surrogate_name,
                    "status": shown_status(r.status, r.heartbeat_at, r.updated_at, now, grace),
                    "heartbeat_at": r.heartbeat_at,
                    "n_evaluations": r.n_evaluations,
                    "budget": r.budget,
                    "best": r.best,
                    "error": r.error,
                    "traceback": r.traceback,
                    "created_at": r.created_at,
                    "started_at": r.started_at,
                    "finished_at": r.finished_at,
                    "updated_at": r.updated_at,
                    "problem_options": r.spec.get("problem_options", {}),
                    "settings": r.settings,
                    "spec": r.spec,
                }
                for r, name in s.execute(runs_q)
            ]
        return studies, runs
