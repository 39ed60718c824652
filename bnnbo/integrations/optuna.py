"""An Optuna sampler backed by bnnbo: ``optuna.create_study(sampler=BnnboSampler(surrogate="hmc"))``.

Relative sampling fits any bnnbo surrogate to the study's completed trials and maximises a bnnbo
acquisition (bnnbo's q = 1 default: LogEI, or LogEHVI / qLogNEHVI for several objectives) over
a SearchSpace mapped from the Optuna distributions; parameters outside that space, and every
parameter during the first ``n_startup_trials``, are sampled independently. Needs ``optuna>=5`` (``pip install 'bnnbo[peers]'``).

The sampler keeps no state a resumed study would miss: each trial's streams derive from
``(seed, trial number)`` and the data are the study's completed trials, so a study resumed from
its storage in another process proposes what an uninterrupted one would (with a stateless
surrogate such as ``gp`` or ``ibnn``; see ``docs/optuna.md`` for surrogates that warm-start).
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from bnnbo.acquisition import check_mode, get_preset
from bnnbo.errors import ConfigError, UnavailableError
from bnnbo.limits import MAX_BUDGET, MAX_SEED, check_count
from bnnbo.optimizer import Optimizer, derive_seed
from bnnbo.space import DTYPE, Categorical, Float, Integer, SearchSpace
from bnnbo.surrogates import Surrogate, get_surrogate

try:
    from optuna.distributions import (
        BaseDistribution,
        CategoricalDistribution,
        FloatDistribution,
        IntDistribution,
    )
    from optuna.samplers import BaseSampler, RandomSampler
    from optuna.search_space import intersection_search_space
    from optuna.study import Study, StudyDirection
    from optuna.trial import FrozenTrial, TrialState
except ImportError as exc:  # an optional extra
    raise UnavailableError(f"bnnbo.integrations.optuna needs optuna>=5 (pip install 'bnnbo[peers]'): {exc}") from None

_logger = logging.getLogger(__name__)

#: fewest completed trials a surrogate is fitted to, whatever n_startup_trials says
MIN_TRIALS = 2


@dataclass(frozen=True)
class _Column:
    """One Optuna parameter as one bnnbo parameter: how values go to and from its column."""

    name: str
    distribution: BaseDistribution
    parameter: Float | Integer | Categorical

    @classmethod
    def of(cls, name: str, dist: BaseDistribution) -> _Column:
        if isinstance(dist, FloatDistribution):
            if dist.step is not None:  # a grid of levels low + i * step
                return cls(name, dist, Integer(name, 0, _levels(dist.low, dist.high, dist.step)))
            return cls(name, dist, Float(name, dist.low, dist.high, log=dist.log))
        if isinstance(dist, IntDistribution):
            if dist.log:  # log-scaled: a continuous log value rounded to the nearest integer
                return cls(name, dist, Float(name, dist.low - 0.5, dist.high + 0.5, log=True))
            return cls(name, dist, Integer(name, 0, _levels(dist.low, dist.high, dist.step)))
        if isinstance(dist, CategoricalDistribution):
            return cls(name, dist, Categorical(name, tuple(range(len(dist.choices)))))
        raise ConfigError(
            f"parameter {name!r}: {type(dist).__name__} is not supported; expected a "
            "FloatDistribution, IntDistribution or CategoricalDistribution"
        )

    def encode(self, value: Any) -> float:
        """A trial's value -> the bnnbo column's value (original units)."""
        d = self.distribution
        if isinstance(d, CategoricalDistribution):
            return float(d.to_internal_repr(value))
        if isinstance(d, IntDistribution) and d.log:
            return float(value)
        if getattr(d, "step", None) is not None:
            return float(round((float(value) - d.low) / d.step))
        return float(value)

    def decode(self, x: float) -> Any:
        """The bnnbo column's value -> the value Optuna's trial gets."""
        d = self.distribution
        if isinstance(d, CategoricalDistribution):
            return d.choices[round(x)]
        if isinstance(d, IntDistribution):
            v = round(x) if d.log else d.low + round(x) * d.step
            return min(max(v, d.low), d.high)
        if d.step is not None:
            return min(d.low + round(x) * d.step, d.high)
        return min(max(float(x), d.low), d.high)


def _levels(low: float, high: float, step: float) -> int:
    return round((high - low) / step)


class BnnboSampler(BaseSampler):
    """Optuna sampler whose relative sampling is bnnbo's Bayesian optimisation.

    Args:
        surrogate: a bnnbo surrogate name (``"gp"``, ``"ibnn"``, ``"hmc"``, ``"auto"``, ...) or
            a configured :class:`bnnbo.Surrogate`.
        acquisition: ``"default"`` (bnnbo's q = 1 default, see ``Optimizer``) or ``"paper"`` (qEI / qEHVI).
        seed: derives every random stream; None draws one from the OS.
        n_startup_trials: completed trials sampled independently before the surrogate is used
            (at least ``MIN_TRIALS`` are always needed).
        independent_sampler: samples the startup trials and parameters outside the relative
            space; default: uniform random, seeded per ``(seed, trial number, parameter)``.
        surrogate_settings: overrides of the surrogate's settings (see ``bnnbo surrogates``).
        acq_optimizer: bnnbo acquisition-optimiser preset (default: the acquisition mode's).
        ref_point: multi-objective hypervolume reference point, one value per objective in the
            study's own directions; None infers it each trial from the observed values with
            BoTorch's ``infer_reference_point`` (the Pareto front's nadir pushed 10% of the
            front's range further out).
        warn_independent_sampling: log a warning when a parameter is sampled independently
            after the startup trials (a dynamic search space).
    """

    def __init__(
        self,
        *,
        surrogate: str | Surrogate = "gp",
        acquisition: str = "default",
        seed: int | None = None,
        n_startup_trials: int = 10,
        independent_sampler: BaseSampler | None = None,
        surrogate_settings: dict[str, Any] | None = None,
        acq_optimizer: str | None = None,
        ref_point: Sequence[float] | None = None,
        warn_independent_sampling: bool = True,
    ):
        self._surrogate = get_surrogate(surrogate, **(surrogate_settings or {}))
        s = self._surrogate.settings
        if self._surrogate.name == "gp" and getattr(s, "warm_start", False) is None:
            # a cold GP unless asked: its warm start lives in this process only, and a study
            # resumed from storage must propose what an uninterrupted one would
            self._surrogate = get_surrogate(self._surrogate, warm_start=False)
        self._acquisition = check_mode(acquisition)
        self._acq_optimizer = acq_optimizer
        if acq_optimizer is not None:
            get_preset(acq_optimizer)
        check_count("n_startup_trials", n_startup_trials, 0, MAX_BUDGET)
        if seed is None:
            seed = int(np.random.SeedSequence().generate_state(1)[0] >> 1)
        check_count("seed", seed, 0, MAX_SEED)
        if ref_point is not None:
            ref_point = [float(v) for v in ref_point]
            if not all(math.isfinite(v) for v in ref_point):
                raise ConfigError(f"ref_point must hold finite numbers, got {ref_point!r}")
        if independent_sampler is not None and not isinstance(independent_sampler, BaseSampler):
            raise ConfigError(f"independent_sampler must be an Optuna sampler, got {independent_sampler!r}")
        self._seed = int(seed)
        self._n_startup = int(n_startup_trials)
        self._independent = independent_sampler
        self._ref_point = ref_point
        self._warn_independent = bool(warn_independent_sampling)
        self._state: tuple[SearchSpace, Any] | None = None  # a surrogate's warm start (HMC chains)
        self._warned_constraints = False
        #: fit / acquisition seconds of the last relative sample (None before the first)
        self.last_timings: dict[str, float] | None = None

    def __str__(self) -> str:
        return f"BnnboSampler({self._surrogate.name})"

    @property
    def seed(self) -> int:
        return self._seed

    def reseed_rng(self) -> None:
        # Optuna calls this when n_jobs > 1 so that workers do not repeat each other; our streams
        # are per trial number and never shared, so the seed stays (and with it reproducibility)
        if self._independent is not None:
            self._independent.reseed_rng()

    # ---- relative sampling ---------------------------------------------------------------
    def infer_relative_search_space(self, study: Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        trials = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        return {n: d for n, d in intersection_search_space(trials).items() if not d.single()}

    def sample_relative(
        self, study: Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        if not search_space:
            return {}
        trials = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        if len(trials) < max(self._n_startup, MIN_TRIALS):
            return {}
        if self._ref_point is not None and len(self._ref_point) != len(study.directions):
            raise ConfigError(
                f"ref_point {self._ref_point} has {len(self._ref_point)} values; the study has "
                f"{len(study.directions)} objectives"
            )
        self._warn_if_constrained(trials)
        columns = [_Column.of(n, d) for n, d in search_space.items()]
        Y = _finite_values(trials)
        if Y is None:
            return {}
        space = SearchSpace([c.parameter for c in columns])
        X = torch.tensor([[c.encode(t.params[c.name]) for c in columns] for t in trials], dtype=DTYPE)
        state = self._state[1] if self._state is not None and self._state[0] == space else None
        opt = Optimizer(
            space,
            num_objectives=Y.shape[1],
            surrogate=self._surrogate,
            seed=derive_seed(self._seed, "optuna", trial.number),
            q=1,
            n_init=MIN_TRIALS,
            acquisition=self._acquisition,
            acq_optimizer=self._acq_optimizer,
            maximize=[d == StudyDirection.MAXIMIZE for d in study.directions],
            ref_point=self._ref_point,
            surrogate_state=state,
        )
        opt.tell(X, Y)
        x = opt.ask()[0]
        self._state = (space, self._surrogate.state_)
        info = opt._pending[1] if opt._pending is not None else {}
        self.last_timings = {"fit_seconds": info.get("fit_seconds", 0.0), "acq_seconds": info.get("acq_seconds", 0.0)}
        return {c.name: c.decode(v) for c, v in zip(columns, x.tolist())}

    # ---- independent sampling ------------------------------------------------------------
    def sample_independent(
        self, study: Study, trial: FrozenTrial, param_name: str, param_distribution: BaseDistribution
    ) -> Any:
        if self._warn_independent:
            n = len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))
            if n >= max(self._n_startup, MIN_TRIALS):
                _logger.warning(
                    "BnnboSampler: parameter %r of trial %d is sampled independently: it is not in "
                    "every completed trial (a dynamic search space).",
                    param_name,
                    trial.number,
                )
        sampler = self._independent
        if sampler is None:  # seeded per trial and parameter, so a resumed study repeats it
            sampler = RandomSampler(seed=derive_seed(self._seed, "independent", trial.number, param_name))
        return sampler.sample_independent(study, trial, param_name, param_distribution)

    def before_trial(self, study: Study, trial: FrozenTrial) -> None:
        if self._independent is not None:
            self._independent.before_trial(study, trial)

    def after_trial(self, study: Study, trial: FrozenTrial, state: TrialState, values: Sequence[float] | None) -> None:
        if self._independent is not None:
            self._independent.after_trial(study, trial, state, values)

    def _warn_if_constrained(self, trials: list[FrozenTrial]) -> None:
        if not self._warned_constraints and any(t.constraints for t in trials):
            self._warned_constraints = True
            warnings.warn(
                "BnnboSampler ignores trial constraints: the surrogate models the objectives only",
                stacklevel=3,
            )


def _finite_values(trials: list[FrozenTrial]) -> torch.Tensor | None:
    """``n x m`` objective values; +-inf (which Optuna allows) clipped to each column's finite
    range. None when a column has no finite value, so there is nothing to model."""
    Y = torch.tensor([t.values for t in trials], dtype=DTYPE)
    for j in range(Y.shape[1]):
        col = Y[:, j]
        finite = col[torch.isfinite(col)]
        if finite.numel() == 0:
            return None
        Y[:, j] = col.clamp(float(finite.min()), float(finite.max()))
    return Y


__all__ = ["MIN_TRIALS", "BnnboSampler"]
