"""bnnbo: Bayesian optimization with interchangeable surrogate models."""

from bnnbo.driver import Result, optimize
from bnnbo.errors import BnnboError, ConfigError, DataError, SurrogateError, UnknownNameError
from bnnbo.optimizer import Optimizer
from bnnbo.problems import PROBLEMS, Problem, get_problem
from bnnbo.space import Categorical, Float, Integer, SearchSpace
from bnnbo.surrogates import SURROGATES, Surrogate, get_surrogate

from bnnbo.version import __version__ as __version__

# Studies and their store pull in SQLAlchemy and pandas: imported on first use only.
_LAZY = {
    "load_results": "bnnbo.results",
    "load_study": "bnnbo.study",
    "run_study": "bnnbo.runner",
    "Store": "bnnbo.storage",
    "write_report": "bnnbo.report",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'bnnbo' has no attribute {name!r}")


__all__ = [
    "PROBLEMS",
    "SURROGATES",
    "BnnboError",
    "Categorical",
    "ConfigError",
    "DataError",
    "Float",
    "Integer",
    "Optimizer",
    "Problem",
    "Result",
    "SearchSpace",
    "Store",
    "Surrogate",
    "SurrogateError",
    "UnknownNameError",
    "get_problem",
    "get_surrogate",
    "load_results",
    "load_study",
    "optimize",
    "run_study",
]
