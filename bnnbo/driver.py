"""The benchmark driver on top of the ask/tell loop: ``optimize(problem, surrogate, ...)`` runs BO
on a registered problem for its budget and returns a ``Result``; ``step`` is one iteration of
that loop (the unit ``bnnbo.runner`` runs per store commit)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import torch
from torch import Tensor

from bnnbo.errors import DataError
from bnnbo.limits import MAX_BUDGET, check_count
from bnnbo.metrics import progress_trace
from bnnbo.optimizer import Optimizer
from bnnbo.problems import Problem, get_problem
from bnnbo.surrogates import Surrogate


@dataclass
class Result:
    """Outcome of ``optimize``: all evaluations in order, with the progress trace."""

    problem: str
    surrogate: str
    seed: int
    X: Tensor  # n x d, original units
    Y: Tensor  # n x m, maximisation convention
    initial: Tensor  # n, bool
    trace: Tensor  # n: best so far (m = 1) or dominated hypervolume (m > 1)
    fit_seconds: list[float]  # per model-based iteration
    acq_seconds: list[float]
    diagnostics: list[dict[str, Any]]

    @property
    def best_value(self) -> float:
        if self.Y.shape[-1] != 1:
            raise DataError("best_value is defined for one objective; use trace (hypervolume)")
        return float(self.Y.max())

    @property
    def best_x(self) -> Tensor:
        if self.Y.shape[-1] != 1:
            raise DataError("best_x is defined for one objective")
        return self.X[self.Y[:, 0].argmax()]


def optimize(
    problem: Problem | str,
    surrogate: str | Surrogate = "gp",
    budget: int | None = None,
    seed: int = 0,
    q: int | None = None,
    n_init: int | None = None,
    acquisition: str = "default",
    surrogate_settings: dict[str, Any] | None = None,
    acq_optimizer: str | None = None,
    callback: Callable[[Optimizer, Tensor, Tensor], None] | None = None,
) -> Result:
    """Run BO on a problem for ``budget`` evaluations (default: the study's budget).

    ``callback(optimizer, X, Y)`` is called after every batch is told.
    """
    if isinstance(problem, str):
        problem = get_problem(problem)
    pb = problem.paper_budget or {}
    q = q if q is not None else pb.get("q", 1)
    n_init = n_init if n_init is not None else pb.get("n_init")
    if budget is None:
        budget = pb["n_init"] + pb["q"] * pb["iterations"] if pb else 50
    check_count("budget", budget, 1, MAX_BUDGET)
    opt = Optimizer.for_problem(
        problem,
        surrogate,
        seed=seed,
        q=q,
        n_init=n_init,
        acquisition=acquisition,
        acq_optimizer=acq_optimizer,
        surrogate_settings=surrogate_settings,
    )
    while opt.n_told < budget:
        X, Y = step(opt, problem, budget)
        if callback is not None:
            callback(opt, X, Y)
    return result_of(opt, problem)


def step(opt: Optimizer, problem: Problem, budget: int) -> tuple[Tensor, Tensor]:
    """One iteration of the loop: ask (the whole initial design at once, then ``q`` points,
    never past ``budget``), evaluate on ``problem``, tell. Returns the batch ``X``, ``Y``."""
    ask_q = opt.n_init if opt.n_told < opt.n_init else opt.q
    X = opt.ask(min(ask_q, budget - opt.n_told))
    Y = problem.evaluate(X)
    opt.tell(X, Y)
    return X, Y


def result_of(opt: Optimizer, problem: Problem) -> Result:
    Y = opt.to_max(opt.Y)
    seen, fits, acqs, diags = set(), [], [], []
    for e in opt.history:  # one entry per model-based ask (a batch shares its timings)
        if not e.initial and e.batch not in seen:
            seen.add(e.batch)
            fits.append(e.fit_seconds)
            acqs.append(e.acq_seconds)
            diags.append(e.diagnostics)
    return Result(
        problem=problem.name,
        surrogate=opt.surrogate.name,
        seed=opt.seed,
        X=opt.X,
        Y=Y,
        initial=torch.tensor([e.initial for e in opt.history]),
        trace=progress_trace(Y, problem.ref_point),
        fit_seconds=fits,
        acq_seconds=acqs,
        diagnostics=diags,
    )
