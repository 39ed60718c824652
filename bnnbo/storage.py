"""The result store behind one small interface: ``Store(url)``.

One SQLite file (``bnnbo.db``, WAL mode) by default; any SQLAlchemy URL (e.g.
``postgresql+psycopg://user@host/db``) for shared use. The driver process is the only writer:
workers return results and the driver commits each step (its evaluations, the surrogate state
after it and the run's counters) in one transaction, so a crash loses at most the step in flight.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bnnbo.errors import BnnboError
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

    def studies(self) -> list[dict[str, Any]]:
        """One dict per study: name, updated_at and a count of runs per status."""
        with self._session() as s:
            rows = s.execute(select(StudyRow.id, StudyRow.name, StudyRow.updated_at).order_by(StudyRow.id)).all()
            counts = s.execute(select(RunRow.study_id, RunRow.status, func.count())
                               .group_by(RunRow.study_id, RunRow.status)).all()
        out = [{"id": i, "name": n, "updated_at": u, "runs": {}} for i, n, u in rows]
        by_id = {d["id"]: d for d in out}
        for sid, status, count in counts:
            by_id[sid]["runs"][status] = count
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
            values["started_at"] = _now()
        if status == "finished":
            values["finished_at"] = _now()
        self._update(run_id, **values)

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
            values: dict[str, Any] = {"best": best, "status": status, "n_evaluations": n,
                                      "updated_at": _now(), "error": None, "traceback": None}
            if status == "finished":
                values["finished_at"] = _now()
            s.execute(update(RunRow).where(RunRow.id == run_id).values(**values))
