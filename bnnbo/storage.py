"""The result store behind one small interface: ``Store(url)``.

One SQLite file (``bnnbo.db``, WAL mode) by default; any SQLAlchemy URL (e.g.
``postgresql+psycopg://user@host/db``) for shared use. The driver process is the only writer:
workers return results and the driver commits each step (its evaluations, the surrogate state
after it and the run's counters) in one transaction, so a crash loses at most the step in flight.
"""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bnnbo.errors import BnnboError, ConfigError
from bnnbo.schema import (
    EvaluationRow,
    RunRow,
    RunStateRow,
    StudyRow,
    _now,
    jsonable,
    open_engine,
    resolve_url,
)
from bnnbo.study import RunSpec, Study

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


def shown_status(status: str, heartbeat: datetime | None, updated: datetime | None,
                 now: datetime, grace: float) -> str:
    """``status``, except "interrupted" for a "running" run whose driver stopped beating
    (its last heartbeat, or its last update in a store older than heartbeats, is stale)."""
    last = heartbeat or updated
    if status != "running" or last is None:
        return status
    if last.tzinfo is None:  # SQLite gives naive datetimes; they were written in UTC
        last = last.replace(tzinfo=timezone.utc)
    return "interrupted" if (now - last).total_seconds() > grace else status


class StoreConflictError(BnnboError, RuntimeError):
    """The store already holds what this process tried to write (two writers on one study)."""


@dataclass
class RunRecord:
    """A snapshot of one run as stored."""

    id: int
    spec: RunSpec
    status: str
    n_evaluations: int
    best: float | None = None
    error: str | None = None

    @property
    def cell(self) -> tuple[str, str, int]:
        return (self.spec.problem, self.spec.surrogate, self.spec.seed)

    @property
    def done(self) -> bool:
        return self.n_evaluations >= self.spec.budget


def _record(row: RunRow) -> RunRecord:
    return RunRecord(id=row.id, spec=RunSpec(**row.spec), status=row.status,
                     n_evaluations=row.n_evaluations, best=row.best, error=row.error)


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
            counts = s.execute(select(RunRow.study_id, RunRow.status, func.count())
                               .where(RunRow.status != "running")
                               .group_by(RunRow.study_id, RunRow.status)).all()
            running = s.execute(select(RunRow.study_id, RunRow.heartbeat_at, RunRow.updated_at)
                                .where(RunRow.status == "running")).all()
        now = _now()
        counts = [*counts, *((sid, shown_status("running", hb, up, now, grace), 1) for sid, hb, up in running)]
        out = [{"id": i, "name": n, "updated_at": u, "runs": {}} for i, n, u in rows]
        by_id = {d["id"]: d for d in out}
        for sid, status, count in counts:
            by_id[sid]["runs"][status] = by_id[sid]["runs"].get(status, 0) + count
        return out

    # ---- runs ------------------------------------------------------------------------------
    def runs(self, study_id: int, include_superseded: bool = False) -> list[RunRecord]:
        q = select(RunRow).where(RunRow.study_id == study_id).order_by(RunRow.id)
        if not include_superseded:
            q = q.where(RunRow.status != "superseded")
        with self._session() as s:
            return [_record(r) for r in s.scalars(q)]

    def add_run(self, study_id: int, spec: RunSpec) -> RunRecord:
        row = RunRow(study_id=study_id, problem=spec.problem, surrogate=spec.surrogate, seed=spec.seed,
                     problem_name=spec.problem_name, surrogate_name=spec.surrogate_name,
                     settings=spec.resolved_settings, spec=dataclasses.asdict(spec), budget=spec.budget)
        with self._session() as s, s.begin():
            s.add(row)
            s.flush()
            return _record(row)

    def update_spec(self, run_id: int, spec: RunSpec) -> None:
        """Store a spec whose config() is unchanged (e.g. more iterations)."""
        self._update(run_id, spec=dataclasses.asdict(spec), budget=spec.budget)

    def set_status(self, run_id: int, status: str, error: str | None = None, traceback: str | None = None) -> None:
        values: dict[str, Any] = {"status": status, "error": error, "traceback": traceback}
        if status == "running":
            values["started_at"] = values["heartbeat_at"] = _now()
        if status == "finished":
            values["finished_at"] = _now()
        self._update(run_id, **values)

    def heartbeat(self, run_ids: list[int]) -> None:
        """The driver is alive and advancing these runs (only "running" ones are touched)."""
        if run_ids:
            with self._session() as s, s.begin():
                s.execute(update(RunRow).where(RunRow.id.in_(run_ids), RunRow.status == "running")
                          .values(heartbeat_at=_now()))

    def _update(self, run_id: int, **values: Any) -> None:
        with self._session() as s, s.begin():
            s.execute(update(RunRow).where(RunRow.id == run_id).values(updated_at=_now(), **values))

    # ---- evaluations -----------------------------------------------------------------------
    def history(self, run_id: int) -> tuple[list[dict[str, Any]], bytes | None]:
        """The run's evaluations in order (dicts as ``commit_step`` takes them) and its state blob."""
        with self._session() as s:
            rows = s.scalars(select(EvaluationRow).where(EvaluationRow.run_id == run_id)
                             .order_by(EvaluationRow.index)).all()
            state = s.get(RunStateRow, run_id)
        evals = [{"index": r.index, "batch": r.batch, "x": r.x, "y": r.y, "initial": r.initial,
                  "fit_seconds": r.fit_seconds, "acq_seconds": r.acq_seconds,
                  "diagnostics": r.diagnostics} for r in rows]
        return evals, (state.blob if state is not None else None)

    def commit_step(self, run_id: int, evaluations: list[dict[str, Any]], state: bytes | None,
                    best: float | None, status: str) -> None:
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
                "(use --workers or --scheduler to compute in parallel).") from None

    def _commit_step(self, run_id: int, evaluations: list[dict[str, Any]], state: bytes | None,
                     best: float | None, status: str) -> None:
        n = evaluations[-1]["index"] + 1
        with self._session() as s, s.begin():
            for e in evaluations:
                s.add(EvaluationRow(run_id=run_id, **{**e, "diagnostics": jsonable(e["diagnostics"])}))
            s.merge(RunStateRow(run_id=run_id, n_evaluations=n, blob=state, updated_at=_now()))
            values: dict[str, Any] = {"best": best, "status": status, "n_evaluations": n, "updated_at": _now(),
                                      "heartbeat_at": _now(), "error": None, "traceback": None}
            if status == "finished":
                values["finished_at"] = _now()
            s.execute(update(RunRow).where(RunRow.id == run_id).values(**values))
