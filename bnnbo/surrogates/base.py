"""The surrogate contract.

A surrogate is configured by a frozen settings dataclass and learns with
``fit(X, Y, seed=..., state=...) -> botorch Model``:

* ``X``: ``n x d`` inputs in the unit cube, ``Y``: ``n x m`` raw outputs (maximisation).
* the returned model's ``posterior(X)`` takes ``batch x q x d`` and its ``rsample`` gives
  ``sample_shape x batch x q x m``, differentiable in X.
* ``seed`` derives every random stream of this fit; ``state`` is what the previous fit of the
  same run left in ``state_`` (e.g. HMC chains to warm-start from), or None.

After ``fit``: ``state_`` (tensors and plain data, see bnnbo.statefile; or None) and ``diagnostics_`` (a JSON-able dict).
"""

from __future__ import annotations

import dataclasses
import math
import typing
from abc import ABC, abstractmethod
from typing import Any, ClassVar, Literal, get_args, get_origin

import torch
from botorch.models.model import Model
from torch import Tensor

from bnnbo.errors import ConfigError, DataError, UnknownNameError

#: presets a settings class may offer: {"paper:hartmann": {field: value, ...}}
Presets = dict[str, dict[str, Any]]

#: the study's config names and our problem names for the same problem; a preset may be asked
#: for by either (``paper:hartmann`` = ``paper:hartmann6``)
_PRESET_ALIASES = {"hartmann": "hartmann6", "kd": "distill", "bnn_400": "nndraw"}
_PRESET_ALIASES.update({v: k for k, v in list(_PRESET_ALIASES.items())})


#: one vocabulary across surrogates: names accepted for a setting a surrogate spells its own way
#: (surrogate -> {accepted name: the setting's name}). The settings keep their names, so stored
#: runs and existing study files read as before; either name works in a study file or a call.
SETTING_ALIASES: dict[str, dict[str, str]] = {
    "sghmc": {"standardize_y": "standardize", "train_steps": "num_steps"},
    "laplace": {"train_steps": "steps"},
}


def _unalias(owner: str, overrides: dict[str, Any]) -> dict[str, Any]:
    aliases = SETTING_ALIASES.get(owner, {})
    out = dict(overrides)
    for alias, name in aliases.items():
        if alias in out:
            if name in out:
                raise ConfigError(f"{owner}: {alias!r} and {name!r} are the same setting; give one of them")
            out[name] = out.pop(alias)
    return out


def y_moments(Y: Tensor) -> tuple[Tensor, Tensor]:
    """Per-column mean and standard deviation for z-scoring ``n x m`` values: the one rule of
    every surrogate that standardises y and of the held-out scores. A (near-)constant column,
    or a single row, keeps std 1, so it is only shifted."""
    mean, std = Y.mean(0), Y.std(0)
    return mean, torch.where(std > 1e-12 * (1 + mean.abs()), std, torch.ones_like(std))


def _resolve_preset(preset: str, presets: Presets) -> str | None:
    if preset in presets:
        return preset
    kind, _, problem = str(preset).partition(":")
    alias = f"{kind}:{_PRESET_ALIASES.get(problem, problem)}"
    return alias if alias in presets else None


@dataclasses.dataclass(frozen=True)
class Settings:
    """Base of every surrogate's settings dataclass."""

    #: Settings added after runs could have been stored, each with the value that behaves as
    #: the code did before the setting existed: a stored run without the setting and a study
    #: that leaves it at this value are the same configuration (see ``bnnbo.runner``).
    added: ClassVar[dict[str, Any]] = {}

    @classmethod
    def fields(cls) -> dict[str, dataclasses.Field]:
        return {f.name: f for f in dataclasses.fields(cls)}

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        return dataclasses.asdict(cls())

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def make_settings(
    cls: type[Settings], overrides: dict[str, Any] | None, owner: str, presets: Presets | None = None
) -> Settings:
    """Validate ``overrides`` against ``cls`` and build the settings.

    ``overrides`` may hold ``preset="paper:hartmann"``; the preset's values apply first and
    explicit fields win. Unknown fields raise an error listing the allowed ones; values of
    the wrong type raise an error naming the field, the value and the expected type.
    """
    overrides = _unalias(owner, dict(overrides or {}))
    preset = overrides.pop("preset", None)
    values: dict[str, Any] = {}
    if preset is not None:
        presets = presets or {}
        name = _resolve_preset(preset, presets)
        if name is None:
            choices = ", ".join(sorted(presets)) or "none"
            raise UnknownNameError(f"{owner}: unknown preset {preset!r}; expected one of: {choices}")
        values.update(presets[name])
    values.update(overrides)
    fields = cls.fields()
    # every problem at once (as study files report them), each naming the value and the expectation
    errors: list[str] = []
    bad = sorted(set(values) - set(fields))
    if bad:
        errors.append(f"unknown setting(s) {', '.join(map(repr, bad))}; allowed: {', '.join(fields)}")
    hints = typing.get_type_hints(cls)
    checked = {}
    for k, v in values.items():
        if k not in fields:
            continue
        try:
            checked[k] = _coerce(owner, k, v, hints[k])
        except ConfigError as exc:
            errors.append(str(exc).removeprefix(f"{owner}: "))
            continue
        errors.extend(_limit_errors(k, checked[k]))
    typed = len(errors) == (1 if bad else 0)  # the known values have the right types
    if typed:  # the class's own range checks, also beside unknown names
        try:
            settings = cls(**checked)
        except SettingsProblems as exc:
            errors.extend(exc.problems)
        except (ValueError, TypeError) as exc:
            errors.append(str(exc).removeprefix(f"{owner}: "))
    if not errors:
        return settings
    if bad and len(errors) == 1:
        raise UnknownNameError(f"{owner}: {errors[0]}")
    raise SettingsProblems(errors, owner)


def join_errors(errors: list[str]) -> str:
    """Several problems on one line (a study file shows each surrogate's on one bullet)."""
    return " ".join(f"({i}) {e};" for i, e in enumerate(errors, 1)).rstrip(";")


class SettingsProblems(ConfigError):
    """Every problem a settings class found in its values (``problems``), raised together."""

    def __init__(self, problems: list[str], owner: str | None = None):
        self.problems = list(problems)
        head = f"{owner}: " if owner else ""
        if len(problems) == 1:
            super().__init__(head + problems[0])
        else:
            super().__init__(f"{head}{len(problems)} bad settings: {join_errors(problems)}")


#: upper bounds of integer settings, by name, for every surrogate that has them; other
#: integers are bounded by MAX_INT_SETTING (lower bounds are each settings class's own check).
#: They catch typos that would run for hours or exhaust memory (``depth = 100000``), far
#: beyond any useful value.
INT_LIMITS = {"depth": 1_000, "n_members": 1_000, "n_chains": 10_000, "max_leapfrog": 100_000, "widths": 100_000}
MAX_INT_SETTING = 10_000_000
MAX_LAYERS = 100


def _limit_errors(name: str, value: Any) -> list[str]:
    """Range problems of one type-checked setting (empty when fine)."""
    hi = INT_LIMITS.get(name, MAX_INT_SETTING)
    items = value if isinstance(value, tuple) else (value,)
    if isinstance(value, tuple) and len(value) > MAX_LAYERS and name == "widths":
        return [f"setting {name!r} has {len(value)} layers; expected at most {MAX_LAYERS}"]
    for v in items:
        if isinstance(v, float) and not math.isfinite(v):
            return [f"setting {name!r} = {value!r}; expected a finite number"]
        if isinstance(v, int) and not isinstance(v, bool) and v > hi:
            shown = list(value) if isinstance(value, tuple) else value
            return [f"setting {name!r} = {shown!r} is too large; expected at most {hi}"]
    return []


def _coerce(owner: str, name: str, value: Any, hint: Any) -> Any:
    """Check one value against a type hint, allowing int -> float and list -> tuple."""
    origin, args = get_origin(hint), get_args(hint)
    ok = True
    if origin is Literal:
        ok = value in args
        expected = " or ".join(map(repr, args))
    elif origin is typing.Union or str(origin) == "<class 'types.UnionType'>":
        for a in args:
            try:
                return _coerce(owner, name, value, a)
            except ConfigError:
                continue
        ok, expected = False, " or ".join(_describe(a) for a in args)
    elif origin is tuple:
        expected = f"a list of {getattr(args[0], '__name__', args[0])}"
        if not isinstance(value, (list, tuple)):
            ok = False
        else:
            return tuple(_coerce(owner, name, v, args[0]) for v in value)
    elif hint is type(None):
        ok, expected = value is None, "None"
    elif hint is bool:
        ok, expected = isinstance(value, bool), "true or false"
    elif hint is int:
        ok, expected = isinstance(value, int) and not isinstance(value, bool), "an integer"
    elif hint is float:
        ok, expected = isinstance(value, (int, float)) and not isinstance(value, bool), "a number"
        value = float(value) if ok else value
    elif hint is str:
        ok, expected = isinstance(value, str), "a string"
    else:
        expected = str(hint)
    if not ok:
        raise ConfigError(f"{owner}: setting {name!r} = {value!r}; expected {expected}")
    return value


def _describe(hint: Any) -> str:
    if get_origin(hint) is Literal:
        return " or ".join(map(repr, get_args(hint)))
    return "None" if hint is type(None) else getattr(hint, "__name__", str(hint))


_SettingsBase = Settings  # the class body below rebinds the name Settings


class Surrogate(ABC):
    """Base class: constructor stores settings; ``fit`` learns and returns a botorch Model."""

    #: registry name
    name: ClassVar[str] = "surrogate"
    #: the frozen settings dataclass of this surrogate
    Settings: ClassVar[type[Settings]] = Settings
    #: named presets of settings (e.g. the study's per-problem settings)
    presets: ClassVar[Presets] = {}

    def __init__(self, settings: _SettingsBase | None = None, **overrides: Any):
        if settings is not None and overrides:
            raise ConfigError(f"{self.name}: give either a settings object or overrides, not both")
        if settings is None:
            settings = make_settings(self.Settings, overrides, self.name, self.presets)
        elif not isinstance(settings, self.Settings):
            raise ConfigError(f"{self.name}: settings must be {self.Settings.__name__}, got {type(settings).__name__}")
        # Any: each subclass reads its own Settings subclass's fields
        self.settings: Any = settings
        self.state_: Any = None
        self.diagnostics_: dict[str, Any] = {}

    def fit(self, X: Tensor, Y: Tensor, *, seed: int = 0, state: Any = None) -> Model:
        """Fit to ``n x d`` unit-cube inputs and ``n x m`` raw outputs; return a botorch Model."""
        X, Y = check_training_data(X, Y)
        self.diagnostics_ = {}
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            return self._fit(X, Y, seed=seed, state=state)

    @abstractmethod
    def _fit(self, X: Tensor, Y: Tensor, *, seed: int, state: Any) -> Model:
        """Fit on checked float64 data under a seeded global torch RNG."""

    def __repr__(self) -> str:
        changed = {k: v for k, v in self.settings.to_dict().items() if self.Settings.defaults()[k] != v}
        args = ", ".join(f"{k}={v!r}" for k, v in changed.items())
        return f"{type(self).__name__}({args})"


def check_training_data(X: Tensor, Y: Tensor) -> tuple[Tensor, Tensor]:
    X = torch.as_tensor(X, dtype=torch.float64)
    Y = torch.as_tensor(Y, dtype=torch.float64)
    if Y.ndim == 1:
        Y = Y.unsqueeze(-1)
    if X.ndim != 2 or Y.ndim != 2 or X.shape[0] != Y.shape[0]:
        raise DataError(f"training data must be n x d and n x m, got X {tuple(X.shape)}, Y {tuple(Y.shape)}")
    if X.shape[0] < 2:
        raise DataError(f"a surrogate needs at least 2 training points, got {X.shape[0]}")
    if not (torch.isfinite(X).all() and torch.isfinite(Y).all()):
        raise DataError("training data contain NaN or infinite values")
    return X, Y
