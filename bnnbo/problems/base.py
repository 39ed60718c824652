"""The Problem abstraction: a search space, a number of objectives and a vectorised evaluate."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import torch
from torch import Tensor

from bnnbo.errors import DataError
from bnnbo.space import DTYPE, SearchSpace


class Problem(ABC):
    """A black box to *maximise* (minimisation problems are negated, as BoTorch's ``negate=True``).

    Subclasses set ``name``, ``space``, ``num_objectives`` and implement ``_evaluate``.
    ``optimal_value`` (single objective) and ``ref_point`` (multi-objective, ``m``) are in the
    maximisation convention; ``None`` where unknown. ``max_hv`` is the best dominated
    hypervolume where known.
    """

    name: str = "problem"
    num_objectives: int = 1
    optimal_value: float | None = None
    ref_point: Tensor | None = None
    max_hv: float | None = None
    #: True when the original problem is a minimisation (values reported here are negated).
    negated: bool = True
    #: The study's budget for this problem: initial design, batch size, iterations.
    paper_budget: dict | None = None

    def __init__(self, space: SearchSpace):
        self.space = space

    @property
    def dim(self) -> int:
        return self.space.dim

    def evaluate(self, X: Tensor) -> Tensor:
        """``n x d`` points in original units -> ``n x m`` objective values (maximise)."""
        X = self.space.validate(X, what=f"X for problem {self.name!r}")
        Y = self._evaluate(X).to(DTYPE).reshape(X.shape[0], self.num_objectives)
        return Y

    @abstractmethod
    def _evaluate(self, X: Tensor) -> Tensor:
        """Evaluate validated ``n x d`` float64 points; return ``n x m`` (or ``n``)."""

    def __repr__(self) -> str:
        return f"<Problem {self.name}: d={self.dim}, m={self.num_objectives}>"

    def identity(self) -> dict[str, str]:
        """What defines the function beyond its options, e.g. the hash of a parameter file read
        from the environment; empty when the options say it all. Stored with every run, so a
        run resumed on another function is refused instead of mixing two functions."""
        return {}

    def info(self) -> ProblemInfo:
        """This problem's metadata (``bnnbo.problems.problem_info`` gives it without building)."""
        return ProblemInfo(
            name=self.name,
            dim=self.dim,
            num_objectives=self.num_objectives,
            optimal_value=self.optimal_value,
            ref_point=self.ref_point,
            max_hv=self.max_hv,
            negated=bool(self.negated),
            paper_budget=self.paper_budget,
            identity=self.identity(),
        )


@dataclass(frozen=True)
class ProblemInfo:
    """What a problem is, without its simulator: for tables, traces, budgets and reports.

    The same fields as on a built ``Problem`` (maximisation convention)."""

    name: str
    dim: int
    num_objectives: int = 1
    optimal_value: float | None = None
    ref_point: Tensor | None = None
    max_hv: float | None = None
    negated: bool = True
    paper_budget: dict | None = None
    identity: dict[str, str] = field(default_factory=dict)


def with_info(info: Callable[..., ProblemInfo]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Give a problem factory a cheap ``info(**options)``: its metadata without building the
    problem (no simulator, compilation or data set). Factories without one are built instead."""

    def wrap(factory: Callable[..., Any]) -> Callable[..., Any]:
        factory.info = info  # type: ignore[attr-defined]
        return factory

    return wrap


def check_ref_point(ref: Sequence[float] | Tensor | None, m: int) -> Tensor | None:
    if ref is None:
        return None
    if isinstance(ref, Tensor) and ref.is_complex():
        raise DataError(f"reference point {ref.tolist()!r} is complex; expected {m} real numbers")
    try:
        ref = torch.as_tensor(ref, dtype=DTYPE)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise DataError(f"reference point {ref!r}: expected {m} numbers ({exc})") from None
    if ref.shape != (m,):
        raise DataError(f"reference point must have {m} entries, got shape {tuple(ref.shape)}")
    if not torch.isfinite(ref).all():
        raise DataError(f"reference point {ref.tolist()!r} has a NaN or infinite entry; expected {m} finite numbers")
    return ref
