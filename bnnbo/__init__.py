"""bnnbo: Bayesian optimization with interchangeable surrogate models."""

from bnnbo.errors import BnnboError, ConfigError, DataError, SurrogateError, UnknownNameError
from bnnbo.optimizer import Optimizer, Result, optimize
from bnnbo.problems import PROBLEMS, Problem, get_problem
from bnnbo.space import Categorical, Float, Integer, SearchSpace
from bnnbo.surrogates import SURROGATES, Surrogate, get_surrogate

__version__ = "0.1.0"

__all__ = [
    "BnnboError", "Categorical", "ConfigError", "DataError", "Float", "Integer", "Optimizer",
    "PROBLEMS", "Problem", "Result", "SURROGATES", "SearchSpace", "Surrogate", "SurrogateError",
    "UnknownNameError", "get_problem", "get_surrogate", "optimize",
]
