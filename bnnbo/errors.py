"""The package's exception hierarchy: every bad input raises one of these, with a message
that names the offending value and what was expected."""

from __future__ import annotations


class BnnboError(Exception):
    """Base class of every error raised on purpose by bnnbo."""


class ConfigError(BnnboError, ValueError):
    """A setting, option, argument or config value is invalid."""


class UnknownNameError(BnnboError, KeyError):
    """A name (problem, surrogate, setting) is not registered."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0]) if self.args else ""


class DataError(BnnboError, ValueError):
    """Input or output data have the wrong shape, are out of bounds, or are not finite."""


class SurrogateError(BnnboError, RuntimeError):
    """A surrogate failed to fit or predict (divergence, Cholesky failure, ...)."""


class UnavailableError(BnnboError, RuntimeError):
    """A feature needs an optional dependency or resource that is not present."""


def unknown(kind: str, name: object, allowed) -> UnknownNameError:
    """An UnknownNameError that lists what would have been accepted."""
    return UnknownNameError(f"unknown {kind} {name!r}; expected one of: {', '.join(sorted(allowed))}")
