"""The data spine: one definition of an evaluation, a run's state and a run as stored.

``Evaluation`` is what the Optimizer's history holds, what a runner step returns and what the
store writes (``to_row`` / ``from_row``: the one place its stored shape is spelled out);
``RunStatus`` names every state a run can be in; ``Run`` is a snapshot of a stored run.
Everything above (optimizer, runner, storage, results, report, progress, dashboard) uses these.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import torch
from torch import Tensor

from bnnbo.space import DTYPE


class RunStatus(str, Enum):
    """A run's state; stored (and compared) as its lower-case text."""

    PENDING = "pending"
    RUNNING = "running"
    FINISHED = "finished"
    FAILED = "failed"
    #: stopped by Ctrl-C / SIGTERM, or a "running" run whose driver stopped beating: resumable
    INTERRUPTED = "interrupted"
    #: replaced by a new run after its settings changed (``--force-new``); kept, never resumed
    SUPERSEDED = "superseded"

    __hash__ = str.__hash__  # hashes like its text, so {"finished": ...}[RunStatus.FINISHED] works
    __str__ = str.__str__  # f-strings show the text


#: states with work left: their results are partial
UNFINISHED = (RunStatus.PENDING, RunStatus.RUNNING, RunStatus.INTERRUPTED)
#: the order tables list the states in (superseded runs are not shown)
SHOWN_STATES = (RunStatus.FINISHED, RunStatus.RUNNING, RunStatus.PENDING, RunStatus.INTERRUPTED, RunStatus.FAILED)


@dataclass(frozen=True)
class Evaluation:
    """One told point with what it cost to propose it."""

    x: Tensor  # d, original units
    y: Tensor  # m, user's convention (the store: maximisation convention)
    initial: bool  # from the initial design
    batch: int = -1  # index of the ask that proposed it (-1: not asked)
    fit_seconds: float = 0.0  # of the ask that proposed it (shared by its batch)
    acq_seconds: float = 0.0
    diagnostics: dict[str, Any] = field(default_factory=dict)

    def to_row(self, index: int) -> dict[str, Any]:
        """The stored shape: plain lists and numbers, with its 0-based ``index`` in the run."""
        return {
            "index": index,
            "batch": self.batch,
            "x": self.x.tolist(),
            "y": self.y.tolist(),
            "initial": self.initial,
            "fit_seconds": self.fit_seconds,
            "acq_seconds": self.acq_seconds,
            "diagnostics": self.diagnostics,
        }

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Evaluation:
        return cls(
            x=torch.tensor(row["x"], dtype=DTYPE),
            y=torch.tensor(row["y"], dtype=DTYPE),
            initial=bool(row["initial"]),
            batch=row["batch"],
            fit_seconds=row["fit_seconds"],
            acq_seconds=row["acq_seconds"],
            diagnostics=row.get("diagnostics") or {},
        )


#: the keys of a stored evaluation, in the store's column order
EVALUATION_FIELDS = ("index", "batch", "x", "y", "initial", "fit_seconds", "acq_seconds", "diagnostics")


def jsonable(value: Any) -> Any:
    """Diagnostics -> strict JSON (PostgreSQL rejects NaN): tensors to lists, NaN/inf to strings."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if hasattr(value, "tolist"):  # torch / numpy arrays and scalars
        return jsonable(value.tolist())
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if value is None or isinstance(value, (bool, int, str)):
        return value
    return str(value)
