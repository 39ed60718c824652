"""The study's synthetic problems, wrapping BoTorch's test functions (``negate=True``)."""

from __future__ import annotations

import torch
from botorch.test_functions import multi_objective as mo
from botorch.test_functions import synthetic as so
from torch import Tensor

from bnnbo import paper
from bnnbo.errors import ConfigError
from bnnbo.limits import MAX_DIM
from bnnbo.problems.base import Problem
from bnnbo.space import DTYPE, SearchSpace


class BoTorchProblem(Problem):
    """A problem backed by a BoTorch ``BaseTestProblem`` built with ``negate=True``."""

    def __init__(self, name: str, fn, paper_budget: dict | None = None):
        fn = fn.to(DTYPE)
        super().__init__(SearchSpace.box(fn.bounds))
        self.name = name
        self._fn = fn
        self.num_objectives = getattr(fn, "num_objectives", 1)
        self.paper_budget = paper_budget
        if self.num_objectives == 1:
            try:
                self.optimal_value = float(fn.optimal_value)
            except (NotImplementedError, AttributeError):
                self.optimal_value = None
        else:
            self.ref_point = torch.as_tensor(fn.ref_point, dtype=DTYPE).clone()
            self.max_hv = getattr(fn, "_max_hv", None)

    def _evaluate(self, X: Tensor) -> Tensor:
        with torch.no_grad():
            return self._fn(X)


def branin() -> Problem:
    return BoTorchProblem("branin", so.Branin(negate=True), paper.budget("branin"))


def hartmann6() -> Problem:
    return BoTorchProblem("hartmann6", so.Hartmann(dim=6, negate=True), paper.budget("hartmann6"))


def ackley(dim: int = 10) -> Problem:
    _check_dim("ackley", dim, 1)
    return BoTorchProblem("ackley", so.Ackley(dim=dim, negate=True), paper.budget("ackley"))


def branincurrin() -> Problem:
    return BoTorchProblem("branincurrin", mo.BraninCurrin(negate=True), paper.budget("branincurrin"))


def dtlz1(dim: int = 5, num_objectives: int = 2) -> Problem:
    _check_dim("dtlz1", dim, num_objectives + 1)
    fn = mo.DTLZ1(dim=dim, num_objectives=num_objectives, negate=True)
    return BoTorchProblem("dtlz1", fn, paper.budget("dtlz1"))


def dtlz5(dim: int = 20, num_objectives: int = 3) -> Problem:
    _check_dim("dtlz5", dim, num_objectives + 1)
    fn = mo.DTLZ5(dim=dim, num_objectives=num_objectives, negate=True)
    return BoTorchProblem("dtlz5", fn, paper.budget("dtlz5"))


def _check_dim(name: str, dim: object, minimum: int) -> None:
    if not isinstance(dim, int) or isinstance(dim, bool) or dim < minimum:
        raise ConfigError(f"{name}: dim must be an integer >= {minimum}, got {dim!r}")
    if dim > MAX_DIM:
        raise ConfigError(f"{name}: dim = {dim} is too large; expected at most {MAX_DIM}")
