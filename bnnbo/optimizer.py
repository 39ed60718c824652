"""The one BO loop: ``Optimizer.ask() / tell()`` (the benchmark driver ``optimize`` on top of it
lives in ``bnnbo.driver``).

Every random stream of an ask is derived from ``(seed, number of evaluations told)``, so a
loop rebuilt from stored evaluations continues exactly as an uninterrupted one.
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
from pathlib import Path
from collections.abc import Mapping
from typing import Any, Sequence

import numpy as np
import torch
from botorch.utils.multi_objective.hypervolume import infer_reference_point
from botorch.utils.multi_objective.pareto import is_non_dominated
from torch import Tensor

from bnnbo import statefile
from bnnbo.acquisition import (
    OptimizerPreset,
    build_acquisition,
    check_mode,
    default_preset_name,
    explore_point,
    get_preset,
    optimize_acquisition,
    uses_analytic,
)
from bnnbo.errors import BnnboError, ConfigError, DataError, SurrogateError, UnknownNameError
from bnnbo.limits import MAX_N_INIT, MAX_Q, MAX_SEED, check_count
from bnnbo.metrics import progress_trace  # noqa: F401 - importable from here as before
from bnnbo.problems.base import check_ref_point
from bnnbo.records import Evaluation, jsonable
from bnnbo.space import DTYPE, Categorical, Float, Integer, SearchSpace
from bnnbo.surrogates import Surrogate, get_surrogate
from bnnbo.surrogates.combined.auto import AutoSurrogate
from bnnbo.surrogates.gaussian.gp import DEFAULT_KERNEL, MATERN_ONLY
from bnnbo.output_warp import YeoJohnsonStandardize


def derive_seed(seed: int, *keys: int | str) -> int:
    """A 31-bit seed for the stream named by ``keys`` under the run seed ``seed``."""
    words = [int(seed)] + [k if isinstance(k, int) else int.from_bytes(k.encode(), "little") for k in keys]
    return int(np.random.SeedSequence(words).generate_state(1)[0] >> 1)


class Optimizer:
    """Ask/tell Bayesian optimisation over a SearchSpace with any registered surrogate.

    Args:
        space: the search space (or a ``2 x d`` bounds tensor for a continuous box).
        num_objectives: ``m``.
        surrogate: a registry name or a configured Surrogate.
        seed: derives every random stream.
        q: points per ask.
        n_init: size of the scrambled-Sobol initial design (default ``min(max(10, 2d), 100)``).
        acquisition: ``"default"`` (LogEI for one objective and q = 1, else qLogNEI / qLogNEHVI),
            ``"mc"`` (qLogNEI also for q = 1) or ``"paper"`` (the study's qEI / qEHVI).
        maximize: per objective (or one bool for all).
        ref_point: hypervolume reference point in the user's convention (``m``); inferred
            from the data when None.
        acq_optimizer: optimiser preset name (defaults to the acquisition mode's).
        surrogate_settings: overrides of the surrogate's settings.
        surrogate_state: a previous fit's ``state_`` to continue from (resume).
    """

    def __init__(
        self,
        space: SearchSpace | Tensor,
        num_objectives: int = 1,
        surrogate: str | Surrogate = "gp",
        seed: int = 0,
        q: int = 1,
        n_init: int | None = None,
        acquisition: str = "default",
        maximize: bool | Sequence[bool] = True,
        ref_point: Sequence[float] | Tensor | None = None,
        acq_optimizer: str | OptimizerPreset | None = None,
        surrogate_settings: dict[str, Any] | None = None,
        surrogate_state: Any = None,
    ):
        self.space = space if isinstance(space, SearchSpace) else SearchSpace.box(space)
        _check_int("num_objectives", num_objectives, 1, 1_000)
        _check_int("q", q, 1, MAX_Q)
        _check_int("seed", seed, 0, MAX_SEED)
        self.num_objectives, self.q, self.seed = int(num_objectives), int(q), int(seed)
        # a surrogate needs 2 points: n_init = 1 would only fail at the first model-based ask
        self.n_init = _default_n_init(self.space.dim) if n_init is None else n_init
        _check_int("n_init", self.n_init, 2, MAX_N_INIT)
        self.n_init = int(self.n_init)
        self.mode = check_mode(acquisition)
        # a table of fields becomes a preset here, so that a bad one fails before any evaluation
        self.acq_optimizer = get_preset(acq_optimizer) if isinstance(acq_optimizer, Mapping) else acq_optimizer
        self.surrogate = get_surrogate(surrogate, **(surrogate_settings or {}))
        check_loop_settings(self.surrogate, q, num_objectives, self.mode)
        if _cold_gp_by_default(self.surrogate, q, num_objectives, self.mode):
            self.surrogate = get_surrogate(self.surrogate, **_PREVIOUS_GP)
        elif _warped_gp_by_default(self.surrogate, q, num_objectives, self.mode):
            self.surrogate = get_surrogate(self.surrogate, output_warp=DEFAULT_LOOP_OUTPUT_WARP)
        elif (label := _auto_gp_to_warp(self.surrogate, q, num_objectives, self.mode)) is not None:
            cs = dict(self.surrogate.settings.candidate_settings)
            cs[label] = {**cs.get(label, {}), "output_warp": DEFAULT_LOOP_OUTPUT_WARP}
            self.surrogate = get_surrogate(self.surrogate, candidate_settings=cs)
        self.preset = get_preset(acq_optimizer or self._default_preset(q))
        if self.preset.incumbent_margin is not None and self.mode == "paper":
            raise ConfigError(
                "acquisition optimiser: incumbent_margin compares log acquisition values; acquisition='paper' "
                "(qEI / qEHVI) is not in log scale"
            )
        self._sign = _signs(maximize, num_objectives)
        ref = check_ref_point(ref_point, num_objectives) if ref_point is not None else None
        self._ref_max = None if ref is None else ref * self._sign
        self.surrogate_state = surrogate_state
        self.history: list[Evaluation] = []
        self._design = self.space.sobol(self.n_init, seed=derive_seed(seed, "init"))
        self._pending: tuple[Tensor, dict[str, Any]] | None = None
        self._asks = 0
        self.last_model = None

    @property
    def encoding(self) -> str:
        """How the surrogate sees discrete levels: the study's in paper mode, else cell centres."""
        return "paper" if self.mode == "paper" else "centre"

    # ---- data ------------------------------------------------------------------------------
    @property
    def X(self) -> Tensor:
        """``n x d`` told points, original units."""
        return _stack([e.x for e in self.history], self.space.dim)

    @property
    def Y(self) -> Tensor:
        """``n x m`` told values, user's convention."""
        return _stack([e.y for e in self.history], self.num_objectives)

    def to_max(self, Y: Tensor) -> Tensor:
        """Values in the user's convention -> maximisation convention (and back)."""
        return Y * self._sign

    @property
    def n_told(self) -> int:
        return len(self.history)

    @classmethod
    def for_problem(cls, problem: Any, surrogate: str | Surrogate = "gp", **kwargs: Any) -> Optimizer:
        """An optimiser for a bnnbo problem: its space, number of objectives and reference point."""
        return cls(problem.space, problem.num_objectives, surrogate, ref_point=problem.ref_point, **kwargs)

    # ---- ask / tell ------------------------------------------------------------------------
    def ask(self, q: int | None = None) -> Tensor:
        """The next ``q x d`` points (original units): the initial design first, then model-based.

        While the initial design is unfinished at most its remaining points are returned.
        """
        q = self.q if q is None else q
        _check_int("q", q, 1, MAX_Q)
        n = self.n_told
        if n < self.n_init:
            X = self._design[n : min(self.n_init, n + q)].clone()
            self._pending = (X, {"initial": True, "batch": self._asks})
            self._asks += 1
            return X
        check_loop_settings(self.surrogate, q, self.num_objectives, self.mode)
        step_seed = derive_seed(self.seed, n)
        X_unit = self.space.to_unit(self.X, self.encoding)
        Y_max = self.Y * self._sign
        with torch.random.fork_rng():
            torch.manual_seed(step_seed)
            t0 = time.perf_counter()
            model = self._fit(X_unit, Y_max, step_seed)
            t1 = time.perf_counter()
            ref = self._ref_point_max(Y_max)
            rounding = "paper" if self.mode == "paper" else "proper"
            preset = get_preset(self.acq_optimizer or self._default_preset(q))
            best = X_unit[Y_max[:, 0].argmax()] if self.num_objectives == 1 else None
            starts = best
            # incumbent_margin: one objective only; "improved": only after a model-based step made a new best
            margin_off = best is None or (preset.incumbent_when == "improved" and not self._improved(Y_max))
            if best is None and preset.start_at_incumbent and q == 1 and self.space.is_continuous:
                starts = _pareto_starts(X_unit, Y_max, preset.num_restarts // 2)
            auto = self.surrogate
            if isinstance(auto, AutoSurrogate) and auto.settings.combine == "hedge":
                # every candidate proposes as it would alone (its acquisition, its preset); one is drawn
                proposals = {}
                for label, fitted in auto.models_.items():
                    member = _is_matern_gp(auto.members[label])
                    a = build_acquisition(
                        fitted, X_unit, Y_max, mode=self.mode, ref_point=ref, seed=step_seed, q=q, exact_gp=member
                    )
                    p = get_preset(self.acq_optimizer or default_preset_name(self.mode, 1, q, exact_gp=member))
                    p = _without_margin(p, margin_off)
                    proposals[label] = (optimize_acquisition(a, self.space, q, p, rounding, incumbent=starts), a, p)
                label = auto.hedge_pick({c: v[0] for c, v in proposals.items()}, derive_seed(step_seed, "hedge"))
                U, acq, preset = proposals[label]
                model, exact = auto.models_[label], _is_matern_gp(auto.members[label])
            else:
                exact = _is_matern_gp(self.surrogate)
                acq = build_acquisition(
                    model, X_unit, Y_max, mode=self.mode, ref_point=ref, seed=step_seed, q=q, exact_gp=exact
                )
                preset = _without_margin(preset, margin_off)
                U = optimize_acquisition(acq, self.space, q, preset, rounding, incumbent=starts)
            if best is not None and self._explores(preset, q, acq, U, Y_max):
                U = explore_point(model, self.space.dim, preset, best)
            if best is not None and q == 1 and _warped(model) and _repeats(U, X_unit, Y_max):
                # a warped GP that asks again where it has looked since its best value, in vain:
                # its warp can make that value an outlier it will not look away from; the
                # unwarped GP decides this step
                model = self._plain_gp().fit(X_unit, Y_max, seed=step_seed)
                acq = build_acquisition(
                    model, X_unit, Y_max, mode=self.mode, ref_point=None, seed=step_seed, q=q, exact_gp=exact
                )
                U = optimize_acquisition(acq, self.space, q, preset, rounding, incumbent=starts)
                self.surrogate.diagnostics_["unwarped_step"] = True
            t2 = time.perf_counter()
        self.last_model = model
        X = self.space.from_unit(U, self.encoding)
        info = {
            "initial": False,
            "batch": self._asks,
            "fit_seconds": t1 - t0,
            "acq_seconds": t2 - t1,
            "diagnostics": dict(self.surrogate.diagnostics_),
        }
        self._pending = (X, info)
        self._asks += 1
        return X

    def _improved(self, Y_max: Tensor) -> bool:
        """Whether the last point told came from a model-based ask and beat every earlier value."""
        last = self.history[-1] if self.history else None
        return last is not None and not last.initial and Y_max.shape[0] > 1 and bool(Y_max[-1, 0] > Y_max[:-1, 0].max())

    def _plain_gp(self) -> Surrogate:
        """The surrogate's GP (``auto``: its warped candidate) without the output warp (``_warped`` steps)."""
        gp = self.surrogate
        if isinstance(gp, AutoSurrogate):  # the candidate it served this step
            gp = gp.members[gp.diagnostics_.get("served", gp.diagnostics_["choice"])]
        return get_surrogate("gp", **{**gp.settings.to_dict(), "output_warp": "none"})

    def _default_preset(self, q: int) -> str:
        return default_preset_name(self.mode, self.num_objectives, q, exact_gp=_is_matern_gp(self.surrogate))

    def _explores(self, preset, q: int, acq, U: Tensor, Y_max: Tensor) -> bool:
        """Whether LogEI's best point is replaced by an exploring one (preset.explore_below)."""
        if preset.explore_below is None or q != 1 or not uses_analytic(self.mode, self.num_objectives, q):
            return False
        if not self.space.is_continuous or not hasattr(acq, "best_f"):
            return False
        y = Y_max[:, 0]
        tf = getattr(acq.model, "outcome_transform", None)
        if isinstance(tf, YeoJohnsonStandardize):  # LogEI is in the warped scale: so is the spread
            y = tf.warp(y)
        spread = float(y.std())
        if not spread > 0:
            return False
        with torch.no_grad():
            value = float(acq(U.reshape(1, 1, -1)))
        return value - math.log(spread) < preset.explore_below

    def tell(self, X: Tensor, Y: Tensor) -> None:
        """Record evaluations: ``n x d`` points (original units) and ``n x m`` values.

        Bad shapes, out-of-bounds points and NaN/inf values raise DataError and change nothing.
        """
        X = self.space.validate(X)
        Y = _check_values(Y, X.shape[0], self.num_objectives)
        info: dict[str, Any] = {"initial": False}
        if self._pending is not None and self._pending[0].shape == X.shape and torch.equal(self._pending[0], X):
            info = self._pending[1]
            if not info["initial"]:
                self.surrogate_state = self.surrogate.state_
        self._pending = None
        for x, y in zip(X, Y):
            self.history.append(Evaluation(x=x.clone(), y=y.clone(), **info))

    def restore(self, evaluations: Sequence[Evaluation], surrogate_state: Any = None) -> None:
        """Continue from stored evaluations (e.g. a run in a store) and the surrogate state
        saved after the last of them; the next ask is then the one an uninterrupted loop makes."""
        if self.history:
            raise DataError("restore() needs a fresh Optimizer; this one has already been told points")
        for e in evaluations:
            self.space.validate(e.x.unsqueeze(0))
            _check_values(e.y.unsqueeze(0), 1, self.num_objectives)
        self.history = list(evaluations)
        self._asks = max((e.batch for e in self.history), default=-1) + 1
        self.surrogate_state = surrogate_state

    # ---- checkpoints -----------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> Path:
        """Write everything needed to continue to ``path``: the settings, the history, the
        asked-but-untold batch and the surrogate state, as tensors and plain data
        (bnnbo.statefile; never a pickle). Every random stream derives from the seed and the
        number of points told, so ``Optimizer.load(path)`` continues exactly as this one would.
        The file is replaced atomically: a crash mid-write leaves the previous checkpoint."""
        path = Path(path)
        if path.is_dir():
            raise ConfigError(f"checkpoint path {str(path)!r} is a folder; expected a file name")
        if not path.parent.is_dir():
            raise ConfigError(f"checkpoint path {str(path)!r}: folder {str(path.parent)!r} does not exist")
        pending = None
        if self._pending is not None:
            X, info = self._pending
            pending = {"X": X, "info": _plain(info), "state": None if info["initial"] else self.surrogate.state_}
        blob = statefile.dumps(
            {
                "settings": self._settings(),
                "history": [
                    {
                        "x": e.x,
                        "y": e.y,
                        "initial": e.initial,
                        "batch": e.batch,
                        "fit_seconds": e.fit_seconds,
                        "acq_seconds": e.acq_seconds,
                        "diagnostics": _plain(e.diagnostics),
                    }
                    for e in self.history
                ],
                "asks": self._asks,
                "surrogate_state": self.surrogate_state,
                "pending": pending,
            },
            CHECKPOINT,
        )
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            with open(tmp, "wb") as fh:
                fh.write(blob)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise ConfigError(f"cannot write checkpoint {str(path)!r}: {exc.strerror or exc}") from None
        return path

    @classmethod
    def load(cls, path: str | os.PathLike, surrogate: Surrogate | None = None) -> Optimizer:
        """The optimizer ``save`` wrote to ``path``; its next ``ask`` is the one the saved
        optimizer would have made. ``surrogate``: a configured instance for a surrogate class
        that is not in the registry (by default the saved name and settings are used)."""
        path = Path(path)
        if not path.is_file():
            raise ConfigError(
                f"no optimizer checkpoint at {str(path)!r}" + (" (it is a folder)" if path.is_dir() else "")
            )
        what = f"checkpoint {str(path)!r}"
        data = statefile.loads(path.read_bytes(), CHECKPOINT, what)
        try:
            s = data["settings"]
            opt = cls(
                _space_of(s["space"]),
                s["num_objectives"],
                surrogate or s["surrogate"],
                seed=s["seed"],
                q=s["q"],
                n_init=s["n_init"],
                acquisition=s["acquisition"],
                maximize=list(s["maximize"]),
                ref_point=s["ref_point"],
                acq_optimizer=s["acq_optimizer"],  # a table becomes a preset in the constructor
                surrogate_settings=None if surrogate is not None else s["surrogate_settings"],
            )
            opt.restore([Evaluation(**e) for e in data["history"]], data["surrogate_state"])
            opt._asks = int(data["asks"])
            pending = data["pending"]
            if pending is not None:
                opt._pending = (pending["X"], pending["info"])
                opt.surrogate.state_ = pending["state"]
        except UnknownNameError as exc:
            raise UnknownNameError(
                f"{what}: {exc}; for a surrogate outside the registry pass "
                "Optimizer.load(path, surrogate=YourSurrogate(...))"
            ) from None
        except (KeyError, TypeError, AttributeError) as exc:
            raise statefile.StateError(f"{what}: incomplete or malformed ({type(exc).__name__}: {exc})") from None
        return opt

    def _settings(self) -> dict[str, Any]:
        ref = None if self._ref_max is None else self._ref_max * self._sign
        return {
            "space": [_param_data(p) for p in self.space.parameters],
            "num_objectives": self.num_objectives,
            "surrogate": self.surrogate.name,
            "surrogate_settings": self.surrogate.settings.to_dict(),
            "seed": self.seed,
            "q": self.q,
            "n_init": self.n_init,
            "acquisition": self.mode,
            "maximize": [bool(v > 0) for v in self._sign.tolist()],
            "ref_point": ref,
            # as given (None: chosen per ask, by q), so that a loaded optimizer chooses as this one does
            "acq_optimizer": (
                dataclasses.asdict(self.acq_optimizer)
                if isinstance(self.acq_optimizer, OptimizerPreset)
                else self.acq_optimizer
            ),
        }

    # ---- internals -------------------------------------------------------------------------
    def _fit(self, X_unit: Tensor, Y_max: Tensor, step_seed: int):
        try:
            return self.surrogate.fit(X_unit, Y_max, seed=step_seed, state=self.surrogate_state)
        except BnnboError:
            raise
        except Exception as exc:  # numerical failures deep inside torch / gpytorch
            raise SurrogateError(f"surrogate {self.surrogate.name!r} failed: {type(exc).__name__}: {exc}") from exc

    def _ref_point_max(self, Y_max: Tensor) -> Tensor | None:
        if self.num_objectives == 1:
            return None
        if self._ref_max is not None:
            return self._ref_max
        return infer_reference_point(Y_max)


CHECKPOINT = "bnnbo-optimizer"


def _param_data(p: Any) -> dict[str, Any]:
    return {"type": type(p).__name__, **dataclasses.asdict(p)}


def _space_of(params: list[dict[str, Any]]) -> SearchSpace:
    kinds = {"Float": Float, "Integer": Integer, "Categorical": Categorical}
    out = []
    for p in params:
        p = dict(p)
        kind = kinds.get(p.pop("type", None))
        if kind is None:
            raise KeyError("parameter type")
        out.append(kind(**p))
    return SearchSpace(out)


def _plain(value: Any) -> Any:
    """Diagnostics as tensors and plain data (JSON-able values where something else slipped in)."""
    try:
        return statefile.check(value, "diagnostics")
    except statefile.StateError:
        return jsonable(value)


#: the GP that batches and the MC acquisition keep (the q = 1 loop's GP was chosen and
#: measured in the q = 1 loops only: docs/performance.md)
_PREVIOUS_GP = {"warm_start": False, "noise": "learned", "kernel": "botorch"}


def _cold_gp_by_default(surrogate: Surrogate, q: int, m: int, mode: str) -> bool:
    """The q = 1 default GP (Matern kernel, low noise, warm starts) is on by default only in the
    loops it was measured in (q = 1, default acquisition, one objective or several); batches
    and the MC acquisition keep BoTorch's GP fitted cold, unless the user set any of those
    options or one that only the Matern GP has (``MATERN_ONLY``: e.g. a prior mean)."""
    s = surrogate.settings
    return (
        surrogate.name == "gp"
        and getattr(s, "priors", None) == "modern"
        and all(getattr(s, k) is None for k in (*_PREVIOUS_GP, "output_warp"))
        and all(getattr(s, k) in off for k, off in MATERN_ONLY.items())
        and (q > 1 or mode != "default")
    )


#: a candidate this close to an evaluated point (largest coordinate difference, unit cube) repeats it
REPEAT_DISTANCE = 1e-3


def _warped(model: Any) -> bool:
    return isinstance(getattr(model, "outcome_transform", None), YeoJohnsonStandardize)


def _repeats(U: Tensor, X_unit: Tensor, Y_max: Tensor) -> bool:
    """Whether the candidate is within REPEAT_DISTANCE of a point evaluated after the best one
    (a refinement that keeps improving never is: its last point is the best)."""
    later = X_unit[int(Y_max[:, 0].argmax()) + 1 :]
    return bool(((later - U[:1]).abs().amax(-1) < REPEAT_DISTANCE).any())


#: the output warp of the q = 1 loop's GP with one objective when the user names none; chosen
#: and measured in that loop only (docs/performance.md, issue 20 round 8)
DEFAULT_LOOP_OUTPUT_WARP = "auto"


def _warped_gp_by_default(surrogate: Surrogate, q: int, m: int, mode: str) -> bool:
    """The q = 1 loop with one objective warps the Matern GP's values unless the user set
    ``output_warp`` (``get_surrogate("gp")`` alone, e.g. inside ``auto``, does not)."""
    return (
        _is_matern_gp(surrogate) and surrogate.settings.output_warp is None and q == 1 and m == 1 and mode == "default"
    )


def _auto_gp_to_warp(surrogate: Surrogate, q: int, m: int, mode: str) -> str | None:
    """``auto``'s candidate label whose GP the loop warps as it warps ``gp`` alone (so that
    ``auto`` choosing its GP proposes what ``gp`` would), or None."""
    if not isinstance(surrogate, AutoSurrogate) or (q, m, mode) != (1, 1, "default"):
        return None
    for label, member in surrogate.members.items():
        if _warped_gp_by_default(member, q, m, mode):
            return label
    return None


def _is_matern_gp(surrogate: Surrogate) -> bool:
    """Whether the surrogate fits the default GP (modern priors, Matern kernel)."""
    s = surrogate.settings
    return (
        surrogate.name == "gp"
        and getattr(s, "priors", None) == "modern"
        and (getattr(s, "kernel", None) or DEFAULT_KERNEL) == "matern"
    )


def _pareto_starts(X_unit: Tensor, Y_max: Tensor, k: int) -> Tensor | None:
    """Up to ``k`` Pareto-optimal training points (a random subset when there are more), as
    starts of the acquisition search for several objectives; draws from torch's seeded stream."""
    front = X_unit[is_non_dominated(Y_max)]
    if k < 1 or front.shape[0] == 0:
        return None
    if front.shape[0] > k:
        front = front[torch.randperm(front.shape[0])[:k]]
    return front


def check_loop_settings(surrogate: Surrogate, q: int, num_objectives: int, mode: str) -> None:
    """Refuse surrogate settings that the loop with ``q``, ``num_objectives`` and acquisition
    ``mode`` cannot use (a study checks every problem x surrogate pair with this at load)."""
    _check_hyper_samples(surrogate, q, num_objectives, mode)
    _check_hedge(surrogate, q, num_objectives, mode)


def _without_margin(preset: OptimizerPreset, off: bool) -> OptimizerPreset:
    return dataclasses.replace(preset, incumbent_margin=None) if off and preset.incumbent_margin is not None else preset


def _hedges(surrogate: Surrogate) -> bool:
    return isinstance(surrogate, AutoSurrogate) and surrogate.settings.combine == "hedge"


def _check_hedge(surrogate: Surrogate, q: int, num_objectives: int, mode: str) -> None:
    """Refuse ``auto``'s hedge where its reward (a proposal's later posterior mean) is undefined."""
    if _hedges(surrogate) and (q != 1 or num_objectives != 1 or mode != "default"):
        raise ConfigError(
            f"auto with combine='hedge' draws one candidate's proposal for one objective at q = 1 with "
            f"acquisition='default'; got q={q}, {num_objectives} objective(s), acquisition={mode!r}"
        )


def _hyper_samples(surrogate: Surrogate) -> int:
    """The most hyperparameter samples a GP this surrogate serves draws: a ``gp``'s own, or the
    largest of ``auto``'s GP candidates'."""
    if surrogate.name == "gp":
        return int(getattr(surrogate.settings, "hyper_samples", 1))
    if isinstance(surrogate, AutoSurrogate):
        return max((_hyper_samples(m) for m in surrogate.members.values()), default=1)
    return 1


def _check_hyper_samples(surrogate: Surrogate, q: int, num_objectives: int, mode: str) -> None:
    """Refuse GP hyperparameter samples where the acquisition would not use them."""
    samples = _hyper_samples(surrogate)
    if samples > 1 and (q > 1 or num_objectives > 1 or mode != "default"):
        raise ConfigError(
            f"hyper_samples={samples} integrates the analytic LogEI of one objective at q = 1 over the GP's "
            f"hyperparameters; got q={q}, {num_objectives} objective(s), acquisition={mode!r}"
        )


def _default_n_init(d: int) -> int:
    return min(max(10, 2 * d), 100)


def _check_int(name: str, value: object, minimum: int, maximum: int) -> None:
    check_count(name, value, minimum, maximum)


_BOOLS = (bool, np.bool_)


def _signs(maximize: bool | Sequence[bool], m: int) -> Tensor:
    if isinstance(maximize, _BOOLS):
        flags = [bool(maximize)] * m
    elif isinstance(maximize, (str, bytes, dict)) or not hasattr(maximize, "__iter__"):
        flags = None  # 0, None, "yes": not a bool, and not a sequence of them
    else:
        flags = list(maximize)
    if flags is None or len(flags) != m or not all(isinstance(f, _BOOLS) for f in flags):
        raise ConfigError(f"maximize must be True, False or {m} bool(s), one per objective; got {maximize!r}")
    return torch.tensor([1.0 if f else -1.0 for f in flags], dtype=DTYPE)


def _check_values(Y: object, n: int, m: int) -> Tensor:
    if _is_complex(Y):
        raise DataError("Y is complex; expected real numbers (the imaginary part would be dropped)")
    try:
        Y = torch.as_tensor(Y, dtype=DTYPE)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise DataError(f"Y must be numeric: {exc}") from None
    if Y.ndim == 1 and m == 1 and Y.numel() == n:
        Y = Y.unsqueeze(-1)
    elif Y.ndim == 1 and n == 1 and Y.numel() == m:
        Y = Y.unsqueeze(0)
    if Y.shape != (n, m):
        raise DataError(f"Y must have shape {n} x {m} (one row per point of X), got {tuple(Y.shape)}")
    bad = ~torch.isfinite(Y)
    if bad.any():
        i, j = bad.nonzero()[0].tolist()
        raise DataError(f"Y[{i}, {j}] is {Y[i, j].item()}; expected a finite number")
    huge = Y.abs() > MAX_ABS_VALUE
    if huge.any():
        i, j = huge.nonzero()[0].tolist()
        raise DataError(
            f"Y[{i}, {j}] is {Y[i, j].item():g}; expected a magnitude of at most {MAX_ABS_VALUE:g} "
            "(the spread of larger values overflows float64: rescale the objective)"
        )
    return Y


#: the largest |value| tell takes: the squares of values' differences must stay finite
MAX_ABS_VALUE = 1e150


def _is_complex(value: object) -> bool:
    if isinstance(value, Tensor):
        return value.is_complex()
    if isinstance(value, complex):
        return True
    try:
        return bool(np.iscomplexobj(value))  # type: ignore[arg-type]
    except Exception:  # noqa: BLE001 - not array-like: as_tensor reports it
        return False


def _stack(rows: list[Tensor], width: int) -> Tensor:
    return torch.stack(rows) if rows else torch.empty(0, width, dtype=DTYPE)
