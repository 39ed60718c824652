"""Problem registry: ``get_problem(name, **options)``.

Entries are ``"module:factory"`` strings so that a problem's optional dependencies are only
imported when that problem is used.
"""

from __future__ import annotations

import importlib
import inspect

from bnnbo.errors import ConfigError, unknown
from bnnbo.problems.base import Problem, ProblemInfo

PROBLEMS: dict[str, str] = {
    "branin": "bnnbo.problems.synthetic:branin",
    "hartmann6": "bnnbo.problems.synthetic:hartmann6",
    "ackley": "bnnbo.problems.synthetic:ackley",
    "branincurrin": "bnnbo.problems.synthetic:branincurrin",
    "dtlz1": "bnnbo.problems.synthetic:dtlz1",
    "dtlz5": "bnnbo.problems.synthetic:dtlz5",
    "pde": "bnnbo.problems.pde:pde",
    "pest": "bnnbo.problems.pest:pest",
    "oil": "bnnbo.problems.oil:oil",
    "lunar": "bnnbo.problems.lunar:lunar",
    "poly": "bnnbo.problems.drawn:poly",
    "nndraw": "bnnbo.problems.drawn:nndraw",
    "distill": "bnnbo.problems.distill:distill",
    "optics": "bnnbo.problems.availability:optics",
    "cco": "bnnbo.problems.availability:cco",
}


def problem_factory(name: str):
    if name not in PROBLEMS:
        raise unknown("problem", name, PROBLEMS)
    module, attr = PROBLEMS[name].split(":")
    return getattr(importlib.import_module(module), attr)


def problem_options(name: str) -> dict[str, object]:
    """The options a problem accepts, with their defaults."""
    sig = inspect.signature(problem_factory(name))
    return {k: p.default for k, p in sig.parameters.items()}


def get_problem(name: str, **options) -> Problem:
    """Build a registered problem; unknown options raise a ConfigError listing the allowed ones."""
    factory = problem_factory(name)
    allowed = problem_options(name)
    bad = sorted(set(options) - set(allowed))
    if bad:
        listed = ", ".join(allowed) or "none"
        raise ConfigError(f"problem {name!r} has no option(s) {bad}; allowed: {listed}")
    return factory(**options)


def problem_info(name: str, **options) -> ProblemInfo:
    """A registered problem's metadata (dim, objectives, optimum, reference point, direction,
    study budget) for these options, without building its simulator where the problem says how
    (``bnnbo.problems.base.with_info``); other problems are cheap to build and are built."""
    factory = problem_factory(name)
    allowed = problem_options(name)
    bad = sorted(set(options) - set(allowed))
    if bad:
        listed = ", ".join(allowed) or "none"
        raise ConfigError(f"problem {name!r} has no option(s) {bad}; allowed: {listed}")
    info = getattr(factory, "info", None)
    return info(**options) if info is not None else factory(**options).info()


__all__ = ["PROBLEMS", "Problem", "ProblemInfo", "get_problem", "problem_info", "problem_options"]
