"""Search spaces: float, integer and categorical parameters, and the map to the unit cube.

Values in *original units* are an ``n x d`` float64 tensor, one column per parameter:
floats as they are, integers as whole numbers, categoricals as the index of the choice.
The *unit* encoding has one column per parameter too: floats are scaled linearly (or in log
space), integers and categoricals are mapped so that level ``i`` of ``k`` sits at the centre
of its cell, ``(i + 0.5) / k``; ``from_unit`` snaps any point of a cell to its level.

``encoding="paper"`` is the study's instead: ``normalize(level, [0, k - 1e-6])``, i.e. level
``i`` at ``i / (k - 1e-6)``, the left edge of its cell, and a unit value ``u`` back to level
``floor(u (k - 1e-6))`` (plus 1e-9, so that float rounding cannot send a level's own
encoding to the level below). The cells nearly agree, but I-BNN kernels and neural networks are
not shift-invariant, so the two encodings give different surrogates.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence, Union

import torch
from torch import Tensor

from bnnbo.errors import ConfigError, DataError

DTYPE = torch.float64
#: "centre" (bnnbo's) or "paper" (the study's left-edge encoding) of discrete levels
ENCODINGS = ("centre", "paper")
#: the study's discrete upper bounds are k - PAPER_EPS
PAPER_EPS = 1e-6
#: i / (k - eps) * (k - eps) can land a rounding error below i
PAPER_ROUNDING_TOL = 1e-9


@dataclass(frozen=True)
class Float:
    name: str
    low: float
    high: float
    log: bool = False

    def __post_init__(self) -> None:
        _check_name(self.name)
        if not (_finite(self.low) and _finite(self.high) and self.low < self.high):
            raise ConfigError(
                f"parameter {self.name!r}: bounds ({self.low}, {self.high}) must be finite with low < high"
            )
        if not math.isfinite(float(self.high) - float(self.low)):  # +-1e308: the width overflows
            raise ConfigError(
                f"parameter {self.name!r}: bounds ({self.low}, {self.high}) are too far apart; their width "
                "must be a finite float64 (at most about 1.8e308)"
            )
        if self.log and self.low <= 0:
            raise ConfigError(f"parameter {self.name!r}: log scale needs low > 0, got {self.low}")


@dataclass(frozen=True)
class Integer:
    name: str
    low: int
    high: int

    def __post_init__(self) -> None:
        _check_name(self.name)
        if (
            not (_finite(self.low) and _finite(self.high))
            or int(self.low) != self.low
            or int(self.high) != self.high
            or self.low >= self.high
        ):
            raise ConfigError(
                f"parameter {self.name!r}: integer bounds ({self.low}, {self.high}) must be whole numbers with low < high"
            )
        if max(abs(self.low), abs(self.high)) > 2**53:  # float64 columns hold integers exactly up to 2^53
            raise ConfigError(
                f"parameter {self.name!r}: integer bounds ({self.low}, {self.high}) must lie within +-2**53"
            )

    @property
    def levels(self) -> int:
        return int(self.high - self.low) + 1


@dataclass(frozen=True)
class Categorical:
    name: str
    choices: tuple

    def __post_init__(self) -> None:
        _check_name(self.name)
        object.__setattr__(self, "choices", tuple(self.choices))
        if len(self.choices) < 2 or len(set(self.choices)) != len(self.choices):
            raise ConfigError(
                f"parameter {self.name!r}: choices {list(self.choices)} must be at least 2 distinct values"
            )

    @property
    def levels(self) -> int:
        return len(self.choices)


Parameter = Union[Float, Integer, Categorical]


def _finite(value: object) -> bool:
    try:
        return math.isfinite(value)  # type: ignore[arg-type]
    except TypeError:  # not a real number (a string, None, a complex)
        return False


def _check_name(name: object) -> None:
    if not isinstance(name, str) or not name:
        raise ConfigError(f"parameter name {name!r} must be a non-empty string")


class SearchSpace:
    """An ordered list of parameters with the maps between original units and [0, 1]^d."""

    def __init__(self, parameters: Sequence[Parameter]):
        parameters = tuple(parameters)
        if not parameters:
            raise ConfigError("a search space needs at least one parameter, got none")
        for p in parameters:
            if not isinstance(p, (Float, Integer, Categorical)):
                raise ConfigError(f"{p!r} is not a Float, Integer or Categorical parameter")
        names = [p.name for p in parameters]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ConfigError(f"duplicate parameter names: {dupes}")
        self.parameters = parameters
        lows, highs = zip(*(_box(p) for p in parameters))
        self._low = torch.tensor(lows, dtype=DTYPE)
        self._high = torch.tensor(highs, dtype=DTYPE)
        self._levels = torch.tensor([getattr(p, "levels", 0) for p in parameters], dtype=DTYPE)
        self._log = torch.tensor([isinstance(p, Float) and p.log for p in parameters])

    @classmethod
    def box(cls, bounds: Tensor | Sequence[Sequence[float]], prefix: str = "x") -> "SearchSpace":
        """A continuous space from a ``2 x d`` bounds tensor (row 0 lows, row 1 highs)."""
        b = torch.as_tensor(bounds, dtype=DTYPE)
        if b.ndim != 2 or b.shape[0] != 2:
            raise ConfigError(f"bounds must have shape 2 x d, got {tuple(b.shape)}")
        return cls([Float(f"{prefix}{i}", float(lo), float(hi)) for i, (lo, hi) in enumerate(b.T)])

    # ---- introspection -------------------------------------------------------------------
    @property
    def dim(self) -> int:
        return len(self.parameters)

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.parameters]

    @property
    def bounds(self) -> Tensor:
        """``2 x d`` bounds in original units (integers: low/high; categoricals: 0/k-1)."""
        return torch.stack([self._low, self._high])

    @property
    def is_continuous(self) -> bool:
        return all(isinstance(p, Float) for p in self.parameters)

    @property
    def discrete_dims(self) -> dict[int, int]:
        """``{column: number of levels}`` for integer and categorical parameters."""
        return {i: p.levels for i, p in enumerate(self.parameters) if not isinstance(p, Float)}

    @property
    def categorical_dims(self) -> list[int]:
        return [i for i, p in enumerate(self.parameters) if isinstance(p, Categorical)]

    def __repr__(self) -> str:
        return f"SearchSpace({list(self.parameters)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SearchSpace) and self.parameters == other.parameters

    # ---- validation and maps -------------------------------------------------------------
    def validate(self, X: Tensor, what: str = "X") -> Tensor:
        """Check an ``n x d`` tensor in original units; return it as float64.

        Raises DataError naming the first offending row and parameter.
        """
        X = _as_matrix(X, self.dim, what)
        bad = ~torch.isfinite(X)
        if bad.any():
            i, j = bad.nonzero()[0].tolist()
            raise DataError(f"{what}[{i}, {j}] ({self.names[j]}) is {X[i, j].item()}; expected a finite number")
        # float32 inputs round bounds by ~1e-7 relative; accept that and clamp below
        scale = torch.maximum(self._high - self._low, torch.maximum(self._low.abs(), self._high.abs()))
        tol = 1e-6 * scale
        out = (X < self._low - tol) | (X > self._high + tol)
        if out.any():
            i, j = out.nonzero()[0].tolist()
            raise DataError(
                f"{what}[{i}, {j}] = {X[i, j].item():.6g} is outside the bounds of {self.names[j]!r} "
                f"[{self._low[j].item():.6g}, {self._high[j].item():.6g}]"
            )
        disc = self._levels > 0
        frac = (X[:, disc] - X[:, disc].round()).abs() > 1e-9
        if frac.any():
            i, k = frac.nonzero()[0].tolist()
            j = int(disc.nonzero()[k])
            raise DataError(f"{what}[{i}, {j}] = {X[i, j].item()} for {self.names[j]!r} must be a whole number")
        return X.clamp(self._low, self._high)

    def to_unit(self, X: Tensor, encoding: str = "centre") -> Tensor:
        """Original units (``n x d``) -> unit cube (``n x d``)."""
        _check_encoding(encoding)
        X = self.validate(X)
        U = (X - self._low) / (self._high - self._low)
        if self._log.any():
            lo, hi = self._low[self._log].log(), self._high[self._log].log()
            U[:, self._log] = (X[:, self._log].log() - lo) / (hi - lo)
        disc = self._levels > 0
        if encoding == "paper":
            U[:, disc] = (X[:, disc] - self._low[disc]) / (self._levels[disc] - PAPER_EPS)
        else:
            U[:, disc] = (X[:, disc] - self._low[disc] + 0.5) / self._levels[disc]
        return U

    def from_unit(self, U: Tensor, encoding: str = "centre") -> Tensor:
        """Unit cube (``... x d``) -> original units; discrete values snap to their level."""
        _check_encoding(encoding)
        U = torch.as_tensor(U, dtype=DTYPE).clamp(0.0, 1.0)
        if U.shape[-1] != self.dim:
            raise DataError(f"unit points have {U.shape[-1]} columns; the space has {self.dim} parameters")
        X = self._low + U * (self._high - self._low)
        if self._log.any():
            lo, hi = self._low[self._log].log(), self._high[self._log].log()
            X[..., self._log] = (lo + U[..., self._log] * (hi - lo)).exp()
        disc = self._levels > 0
        if disc.any():
            if encoding == "paper":  # the tolerance maps a level's own encoding back to it
                scaled = U[..., disc] * (self._levels[disc] - PAPER_EPS) + PAPER_ROUNDING_TOL
            else:
                scaled = U[..., disc] * self._levels[disc]
            level = torch.minimum(scaled.floor(), self._levels[disc] - 1)
            X[..., disc] = self._low[disc] + level
        return X

    def snap_unit(self, U: Tensor, encoding: str = "centre") -> Tensor:
        """Move unit points onto the nearest valid point (discrete cells to their encoding)."""
        X = self.from_unit(U, encoding).reshape(-1, self.dim)
        return self.to_unit(X, encoding).reshape(U.shape)

    def sobol(self, n: int, seed: int) -> Tensor:
        """``n`` scrambled-Sobol points in original units (discrete values snapped)."""
        if int(n) != n or n < 1:
            raise ConfigError(f"number of Sobol points must be a positive integer, got {n!r}")
        engine = torch.quasirandom.SobolEngine(self.dim, scramble=True, seed=int(seed))
        return self.from_unit(engine.draw(int(n), dtype=DTYPE))

    def to_dicts(self, X: Tensor) -> list[dict]:
        """Rows of original-unit values as ``{name: value}``; categoricals become their choice."""
        X = self.validate(X)
        rows = []
        for x in X.tolist():
            row = {}
            for p, v in zip(self.parameters, x):
                if isinstance(p, Categorical):
                    row[p.name] = p.choices[int(round(v))]
                elif isinstance(p, Integer):
                    row[p.name] = int(round(v))
                else:
                    row[p.name] = v
            rows.append(row)
        return rows


def _check_encoding(encoding: str) -> None:
    if encoding not in ENCODINGS:
        raise ConfigError(f"encoding = {encoding!r}; expected one of {', '.join(ENCODINGS)}")


def _box(p: Parameter) -> tuple[float, float]:
    if isinstance(p, Float):
        return float(p.low), float(p.high)
    if isinstance(p, Integer):
        return float(p.low), float(p.high)
    return 0.0, float(len(p.choices) - 1)


def _as_matrix(X: object, d: int, what: str) -> Tensor:
    if (isinstance(X, Tensor) and X.is_complex()) or getattr(getattr(X, "dtype", None), "kind", "") == "c":
        raise DataError(f"{what} is complex; expected real numbers")
    try:
        X = torch.as_tensor(X, dtype=DTYPE)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise DataError(f"{what} must be numeric, got {type(X).__name__}: {exc}") from None
    if X.ndim == 1 and X.numel() == d:
        X = X.unsqueeze(0)
    if X.ndim != 2 or X.shape[-1] != d:
        raise DataError(f"{what} must have shape n x {d}, got {tuple(X.shape)}")
    return X
