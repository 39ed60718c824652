"""``problem_info``: a problem's metadata without building its simulator, equal to the built one's."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from bnnbo.errors import BnnboError, ConfigError, UnavailableError
from bnnbo.problems import PROBLEMS, get_problem, problem_info

# building these is slow (a compiled solver, a network draw, a data set): checked with small options
BUILD_OPTIONS = {"nndraw": {"dim": 8, "width": 4}, "poly": {"dim": 8}}


def _same(a, b) -> bool:
    for f in dataclasses.fields(a):
        x, y = getattr(a, f.name), getattr(b, f.name)
        if isinstance(x, torch.Tensor) or isinstance(y, torch.Tensor):
            if x is None or y is None or not torch.equal(x, y):
                return False
        elif x != y:
            return False
    return True


@pytest.mark.parametrize("name", sorted(set(PROBLEMS) - {"optics", "cco"}))
def test_info_equals_the_built_problems_metadata(name):
    options = BUILD_OPTIONS.get(name, {})
    try:
        built = get_problem(name, **options)
    except UnavailableError:
        pytest.skip(f"{name}: optional dependency missing")
    assert _same(problem_info(name, **options), built.info())


def test_pde_info_neither_compiles_nor_simulates(monkeypatch):
    pytest.importorskip("numba")
    import bnnbo.problems.pde as pde

    def no(*a, **k):
        raise AssertionError("built the solver")

    monkeypatch.setattr(pde, "_numba_kernel", no)
    info = problem_info("pde")
    assert (info.dim, info.num_objectives, info.paper_budget) == (4, 1, pde.Brusselator.paper_budget)
    with pytest.raises(ConfigError, match="backend must be one of"):
        problem_info("pde", backend="fortran")


def test_nndraw_info_draws_no_network(monkeypatch):
    monkeypatch.setattr("bnnbo.problems.drawn.NNDraw.__init__", lambda *a, **k: pytest.fail("built"))
    assert problem_info("nndraw", dim=400).dim == 400


def test_info_refuses_unknown_options_and_unavailable_problems():
    with pytest.raises(ConfigError, match="has no option"):
        problem_info("branin", dim=3)
    with pytest.raises(BnnboError):
        problem_info("optics")
