"""Acquisition functions and their optimisation, in the unit cube.

Two modes:

* ``"default"``: analytic LogEI for one objective and q = 1 (no MC error near the optimum),
  else qLogNEI (one objective) / qLogNEHVI (several) with quasi-MC samples; a reliable
  optimiser budget, and mixed spaces optimised with BoTorch's alternating mixed optimiser so
  the acquisition is only ever evaluated at valid discrete points.
* ``"mc"``: as ``"default"`` but qLogNEI also for q = 1 (the default before issue 20).
* ``"paper"``: the study's qEI with ``best_f`` = best observation / qEHVI with the box
  partitioning on the *observed* Y (the study's code used the model mean: a bug not copied),
  i.i.d. samples, its tiny optimiser budget, and discrete dims floored after a continuous
  relaxation.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, fields, replace
from typing import Any

import torch
from botorch.acquisition import qExpectedImprovement, qLogNoisyExpectedImprovement
from botorch.acquisition.acquisition import AcquisitionFunction
from botorch.acquisition.multi_objective.logei import qLogNoisyExpectedHypervolumeImprovement
from botorch.acquisition.multi_objective.monte_carlo import qExpectedHypervolumeImprovement
from botorch.exceptions.warnings import OptimizationWarning
from botorch.optim.batched_lbfgs_b import fmin_l_bfgs_b_batched
from botorch.models.model import Model
from botorch.optim import optimize_acqf
from botorch.optim.initializers import initialize_q_batch
from botorch.optim.optimize_mixed import optimize_acqf_mixed_alternating
from botorch.optim.utils.acquisition_utils import get_X_baseline
from botorch.sampling import StochasticSampler
from botorch.sampling.get_sampler import get_sampler
from botorch.utils.multi_objective.box_decompositions import FastNondominatedPartitioning
from botorch.utils.sampling import draw_sobol_samples
from torch import Tensor

from bnnbo.errors import ConfigError, unknown
from bnnbo.exact_logehvi import ExactGPLogEHVI, exact_logehvi_applies
from bnnbo.exact_logei import log_ei
from bnnbo.mixture import MixtureAcquisition, MixtureModel
from bnnbo.paper import STUDY_LOOP
from bnnbo.space import SearchSpace

MODES = ("default", "mc", "paper")


@dataclass(frozen=True)
class OptimizerPreset:
    """Budget of the multi-start L-BFGS-B acquisition optimiser."""

    num_restarts: int
    raw_samples: int
    maxiter: int
    batch_limit: int | None = None
    #: add raw samples perturbed around the best training points (BoTorch's sample_around_best)
    sample_around_best: bool = False
    #: optimise a q-batch point by point (greedy, BoTorch's sequential=True) instead of jointly
    sequential: bool = False
    #: q = 1, continuous spaces: one restart starts at the incumbent itself (the best training
    #: point) and the others at raw samples picked by BoTorch's Boltzmann rule (always
    #: including the best one); the restarts are independent batched L-BFGS-B runs
    start_at_incumbent: bool = False
    #: L-BFGS-B's projected-gradient tolerance for those restarts (in lengthscale units where
    #: the acquisition exposes its lengthscales)
    pgtol: float = 1e-5
    #: q = 1, one objective, continuous spaces: when the best log EI found, less the log of the
    #: observations' standard deviation, is below ``explore_below`` (EI negligible: the model
    #: sees no improvement anywhere), propose the maximiser of ``explore`` instead: "ucb" (UCB
    #: with ``explore_beta``) or "thompson" (a joint posterior sample's best of the raw samples)
    explore_below: float | None = None
    explore: str = "ucb"
    explore_beta: float = 16.0
    #: q = 1, one objective, ``start_at_incumbent``: when the restart that started at the incumbent
    #: ends within this margin of the best restart's log acquisition value (a factor exp(margin)
    #: in EI), its point is proposed, so that the incumbent's basin is refined before another of
    #: equal promise (not with acquisition="paper", whose qEI is not in log scale)
    incumbent_margin: float | None = None
    #: when ``incumbent_margin`` applies: "always", or "improved" (only after a step whose point
    #: became the incumbent: refining goes on while it pays)
    incumbent_when: str = "always"

    def __post_init__(self) -> None:
        def count(name: str, low: int) -> None:
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise ConfigError(f"acquisition optimiser: {name} must be an integer >= {low}, got {value!r}")

        count("num_restarts", 1)
        count("raw_samples", self.num_restarts)  # the restarts start at raw samples
        count("maxiter", 1)
        if self.batch_limit is not None:
            count("batch_limit", 1)
        if not (isinstance(self.pgtol, (int, float)) and math.isfinite(self.pgtol) and self.pgtol > 0):
            raise ConfigError(f"acquisition optimiser: pgtol must be a finite number > 0, got {self.pgtol!r}")
        if self.explore_below is not None and not (
            isinstance(self.explore_below, (int, float)) and math.isfinite(self.explore_below)
        ):
            raise ConfigError(
                f"acquisition optimiser: explore_below must be a finite number, got {self.explore_below!r}"
            )
        if self.incumbent_margin is not None and not (
            isinstance(self.incumbent_margin, (int, float))
            and not isinstance(self.incumbent_margin, bool)
            and math.isfinite(self.incumbent_margin)
            and self.incumbent_margin >= 0
        ):
            raise ConfigError(
                f"acquisition optimiser: incumbent_margin must be a finite number >= 0, got {self.incumbent_margin!r}"
            )
        if self.incumbent_margin is not None and not self.start_at_incumbent:
            raise ConfigError(
                "acquisition optimiser: incumbent_margin needs start_at_incumbent=True (it picks that restart)"
            )
        if self.incumbent_when not in INCUMBENT_WHEN:
            raise unknown("incumbent_when", self.incumbent_when, INCUMBENT_WHEN)
        if self.explore not in EXPLORE:
            raise unknown("exploration criterion", self.explore, EXPLORE)
        if not self.explore_beta > 0:
            raise ConfigError(f"explore_beta must be > 0, got {self.explore_beta!r}")


EXPLORE = ("ucb", "thompson")
INCUMBENT_WHEN = ("always", "improved")


#: "paper": the study's budget. "default": chosen by benchmarks/acq_presets.py (see
#: docs/performance.md): the smallest budget whose median acquisition value is within 1% of a
#: 4x larger budget's on Hartmann6 and Ackley.
OPTIMIZER_PRESETS = {
    "paper": OptimizerPreset(**{k: STUDY_LOOP[k] for k in ("num_restarts", "raw_samples", "maxiter", "batch_limit")}),
    "default": OptimizerPreset(num_restarts=8, raw_samples=256, maxiter=200),
    "thorough": OptimizerPreset(num_restarts=32, raw_samples=1024, maxiter=400),
    #: the default for analytic LogEI (q = 1): many cheap Sobol raw samples, and one restart at
    #: the incumbent so that it is refined (docs/performance.md)
    "analytic": OptimizerPreset(num_restarts=10, raw_samples=2048, maxiter=200, start_at_incumbent=True),
    #: the "analytic" preset before issue 20's second round (kept for comparison)
    "around-best": OptimizerPreset(num_restarts=8, raw_samples=256, maxiter=200, sample_around_best=True),
    #: the default for multi-objective batches: qLogNEHVI's joint q-batch value sums over all
    #: 2^q - 1 subsets of the batch, so its cost grows exponentially with q (docs/performance.md)
    "sequential": OptimizerPreset(num_restarts=8, raw_samples=256, maxiter=200, sequential=True),
}
NUM_MC_SAMPLES = 128
#: an integer parameter with more levels is optimised as a continuous one and rounded
MAX_LISTED_LEVELS = 1000


def check_mode(mode: str) -> str:
    if mode not in MODES:
        raise unknown("acquisition mode", mode, MODES)
    return mode


def default_preset_name(mode: str, num_objectives: int, q: int, exact_gp: bool = False) -> str:
    """The optimiser preset a mode uses when the user names none. ``exact_gp``: the surrogate
    is the default GP (Matern kernel), whose several objectives get analytic LogEHVI at q = 1."""
    if mode == "paper":
        return "paper"
    if uses_analytic(mode, num_objectives, q) or (exact_gp and uses_analytic_mo(mode, num_objectives, q)):
        return "analytic"
    return "sequential" if num_objectives > 1 and q > 1 else "default"


def uses_analytic(mode: str, num_objectives: int, q: int | None) -> bool:
    return mode == "default" and num_objectives == 1 and q == 1


def uses_analytic_mo(mode: str, num_objectives: int, q: int | None) -> bool:
    """Several objectives, q = 1, default mode: analytic LogEHVI when the model allows it
    (``exact_logehvi_applies``, the default GP's), else qLogNEHVI."""
    return mode == "default" and num_objectives > 1 and q == 1


def get_preset(name: str | OptimizerPreset | Mapping[str, Any]) -> OptimizerPreset:
    """A preset by name, as given, or from a table of its fields (``num_restarts``,
    ``raw_samples`` and ``maxiter`` required)."""
    if isinstance(name, OptimizerPreset):
        return name
    if isinstance(name, Mapping):
        known = {f.name for f in fields(OptimizerPreset)}
        required = {f.name for f in fields(OptimizerPreset) if f.default is MISSING}
        if stray := sorted(set(name) - known):
            raise ConfigError(f"acquisition optimiser: unknown field(s) {stray}; expected some of {sorted(known)}")
        if missing := sorted(required - set(name)):
            raise ConfigError(f"acquisition optimiser: {missing} missing from {dict(name)!r}")
        return OptimizerPreset(**name)
    if not isinstance(name, str) or name not in OPTIMIZER_PRESETS:
        raise unknown("acquisition optimiser preset", name, OPTIMIZER_PRESETS)
    return OPTIMIZER_PRESETS[name]


def build_acquisition(
    model: Model,
    X: Tensor,
    Y: Tensor,
    *,
    mode: str,
    ref_point: Tensor | None,
    seed: int,
    num_samples: int | None = None,
    q: int | None = None,
    exact_gp: bool = False,
) -> AcquisitionFunction:
    """The acquisition for a fitted model on ``n x d`` unit inputs and ``n x m`` outputs (maximise).

    ``num_samples``: MC samples; by default NUM_MC_SAMPLES, or in "default" mode a sample
    model's own ``acquisition_samples`` (its draws are whole networks: posterior.py).
    ``q``: the batch size it will be optimised for (None: any, i.e. an MC acquisition).
    ``exact_gp``: the model comes from the default GP (``default_preset_name``); with several
    objectives and q = 1 it gets analytic LogEHVI over the observed Pareto front.
    A ``MixtureModel`` gets the log-space mixture of its components' acquisitions.
    """
    check_mode(mode)
    if isinstance(model, MixtureModel):  # each component's own acquisition, mixed (bnnbo.mixture)
        parts = [
            build_acquisition(
                m, X, Y, mode=mode, ref_point=ref_point, seed=seed, num_samples=num_samples, q=q, exact_gp=exact_gp
            )
            for m in model.models
        ]
        return MixtureAcquisition(model, parts, log_scale=mode != "paper")  # paper: qEI / qEHVI
    # sample-based posteriors (whole networks) keep MC draws: LogEI would see only a Gaussian fit
    if uses_analytic(mode, Y.shape[-1], q) and not hasattr(model, "acquisition_samples"):
        return log_ei(model, Y.max())
    if exact_gp and ref_point is not None and uses_analytic_mo(mode, Y.shape[-1], q) and exact_logehvi_applies(model):
        return ExactGPLogEHVI(model, Y, ref_point)
    if num_samples is None:
        num_samples = NUM_MC_SAMPLES
        if mode == "default":
            num_samples = getattr(model, "acquisition_samples", NUM_MC_SAMPLES)
    shape = torch.Size([num_samples])
    if mode == "paper":
        sampler = StochasticSampler(sample_shape=shape, seed=seed)
    else:
        sampler = get_sampler(model.posterior(X[:1]), sample_shape=shape, seed=seed)
    if Y.shape[-1] == 1:
        if mode == "paper":
            return qExpectedImprovement(model, best_f=Y.max(), sampler=sampler)
        nei = _NetworkLogNEI if _fixed_draws(model, sampler) else qLogNoisyExpectedImprovement
        return nei(model, X_baseline=X, sampler=sampler, prune_baseline=True)
    ref = ref_point.to(Y)
    if mode == "paper":
        partitioning = FastNondominatedPartitioning(ref_point=ref, Y=Y)
        return qExpectedHypervolumeImprovement(model, ref_point=ref, partitioning=partitioning, sampler=sampler)
    clear_stale_build_lock()
    return qLogNoisyExpectedHypervolumeImprovement(
        model, ref_point=ref, X_baseline=X, sampler=sampler, prune_baseline=True
    )


#: a build lock at least this old, with no process building in its folder, was left behind
STALE_LOCK_SECONDS = 60.0


def clear_stale_build_lock(name: str = "logei_fused_ext") -> bool:
    """Remove the build lock of BoTorch's JIT-compiled qLogEHVI kernel when it is stale.

    The first qLogNEHVI of a process has torch build (or check) that kernel under a lock file;
    a process stopped while holding it (Ctrl-C, a worker killed mid-study) leaves the file,
    and every later process then waits for it forever. Stale: older than STALE_LOCK_SECONDS
    and no process works in the build folder (torch runs ninja there). Where that cannot be
    checked (no /proc), only a lock older than 30 minutes counts as stale. Returns whether a
    lock was removed; never raises."""
    import os
    import time
    from pathlib import Path

    try:
        from torch.utils.cpp_extension import _get_build_directory

        build = Path(_get_build_directory(name, False))
        lock = build / "lock"
        age = time.time() - lock.stat().st_mtime
    except Exception:  # noqa: BLE001 - no lock, or a torch without this layout: nothing to do
        return False
    proc = Path("/proc")
    if proc.is_dir():
        if age < STALE_LOCK_SECONDS:
            return False
        for pid in proc.iterdir():
            try:
                if pid.name.isdigit() and Path(os.readlink(pid / "cwd")).resolve() == build.resolve():
                    return False  # a build is running
            except OSError:
                continue
    elif age < 1800:
        return False
    try:
        lock.unlink()
    except OSError:
        return False
    warnings.warn(f"removed {lock}: a stale build lock ({age:.0f} s old) left by a stopped process", stacklevel=2)
    return True


def optimize_acquisition(
    acq: AcquisitionFunction,
    space: SearchSpace,
    q: int,
    preset: OptimizerPreset,
    rounding: str,
    incumbent: Tensor | None = None,
) -> Tensor:
    """Maximise ``acq`` over the unit cube; return ``q x d`` valid unit points.

    ``rounding="paper"`` relaxes discrete dims, snaps every restart's batch and keeps the best
    snapped batch; ``"proper"`` uses the mixed alternating optimiser on discrete spaces.
    ``incumbent``: the best training point (unit cube), or ``k x d`` of them (several
    objectives: Pareto-optimal points), starts for presets that ask for them.
    """
    handle = acq.register_forward_pre_hook(_finite_gradients)
    try:
        return _optimize_with_warnings_handled(acq, space, q, preset, rounding, incumbent)
    finally:
        handle.remove()


class _FiniteGradient(torch.autograd.Function):
    """The identity, whose backward sets non-finite gradient entries to zero."""

    @staticmethod
    def forward(ctx, X: Tensor) -> Tensor:
        return X.view_as(X)

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:
        return torch.nan_to_num(grad, nan=0.0, posinf=0.0, neginf=0.0)


def _finite_gradients(module, args):
    """Forward pre-hook: a restart whose gradient is not finite (e.g. the eigendecomposition
    a rank-deficient posterior covariance falls back to, whose backward is NaN at repeated
    eigenvalues) gets a zero gradient, so L-BFGS-B stops that restart where it is instead of
    BoTorch failing the whole search, and with it the run."""
    if args and isinstance(args[0], Tensor) and args[0].requires_grad:
        return (_FiniteGradient.apply(args[0]), *args[1:])
    return None


def _optimize_with_warnings_handled(
    acq: AcquisitionFunction,
    space: SearchSpace,
    q: int,
    preset: OptimizerPreset,
    rounding: str,
    incumbent: Tensor | None,
) -> Tensor:
    if preset.start_at_incumbent and incumbent is not None and q == 1 and space.is_continuous:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=OptimizationWarning)
            return _optimize_from_incumbent(acq, space.dim, preset, incumbent, margin=preset.incumbent_margin)
    with warnings.catch_warnings():
        # restarts that stop early are expected with small budgets; the best restart is kept
        warnings.filterwarnings("ignore", module=r"botorch\.optim")
        warnings.filterwarnings("ignore", category=OptimizationWarning)
        warnings.filterwarnings("ignore", message=r".*added jitter.*")  # handled by the jitter
        return _optimize(acq, space, q, preset, rounding)


def _optimize(acq: AcquisitionFunction, space: SearchSpace, q: int, preset: OptimizerPreset, rounding: str) -> Tensor:
    d = space.dim
    bounds = torch.stack([torch.zeros(d), torch.ones(d)]).to(torch.float64)
    options = {"maxiter": preset.maxiter}
    if preset.batch_limit is not None:
        options["batch_limit"] = preset.batch_limit
    cats = set(space.categorical_dims)
    # integers with more levels than this are optimised relaxed and rounded, as Floats are:
    # the mixed optimiser lists every level of a discrete dim and scans the list at each step
    levels = {i: k for i, k in space.discrete_dims.items() if i in cats or k <= MAX_LISTED_LEVELS}
    if space.is_continuous or rounding == "paper" or not levels:
        if preset.sample_around_best:  # the mixed optimiser sprays around the best points itself
            options["sample_around_best"] = True
        if space.is_continuous and (coarse := _coarse_acquisition(acq)) is not None:
            if (preset.sequential or getattr(acq.model, "greedy_batches", False)) and q > 1:
                return _optimize_greedy_two_stage(acq, coarse, bounds, q, preset, options)
            return _optimize_two_stage(acq, coarse, bounds, q, preset, options)
        cands, _ = optimize_acqf(
            acq,
            bounds=bounds,
            q=q,
            num_restarts=preset.num_restarts,
            raw_samples=preset.raw_samples,
            options=options,
            # greedy batches come back as the one batch BoTorch built; joint ones as every restart's
            sequential=preset.sequential,
            return_best_only=preset.sequential,
        )
        cands = cands.reshape(-1, q, d)
        if not space.is_continuous:
            cands = space.snap_unit(cands, "paper" if rounding == "paper" else "centre")
        with torch.no_grad():
            values = acq(cands)
        return cands[values.argmax()].detach()
    # BoTorch's mixed optimiser wants discrete values 0..k-1 spanning the bounds; the
    # wrapper maps them to the unit-cube cell centres the surrogate was trained on.
    discrete = {i: [float(v) for v in range(k)] for i, k in levels.items()}
    cat = {i: discrete.pop(i) for i in space.categorical_dims}
    for i, k in levels.items():
        bounds[1, i] = k - 1
    indexed = _LevelIndexed(acq, levels)
    options["maxiter_continuous"] = options.pop("maxiter")
    # Evaluate the acquisition only at valid levels of the listed dims: start from rounded
    # random points (the default start optimises a continuous relaxation, i.e. between levels)
    # and never relax a listed dim into a continuous one.
    options["initialization_strategy"] = "random"
    options["max_discrete_values"] = max(levels.values())
    cands, _ = optimize_acqf_mixed_alternating(
        indexed,
        bounds=bounds,
        discrete_dims=discrete or None,
        cat_dims=cat or None,
        q=q,
        num_restarts=preset.num_restarts,
        raw_samples=preset.raw_samples,
        options=options,
    )
    return space.snap_unit(indexed.to_unit(cands.reshape(q, d))).detach()


def _optimize_from_incumbent(
    acq: AcquisitionFunction, d: int, preset: OptimizerPreset, incumbent: Tensor, margin: float | None = None
) -> Tensor:
    bounds = torch.stack([torch.zeros(d), torch.ones(d)]).to(torch.float64)
    raw = draw_sobol_samples(bounds, n=preset.raw_samples, q=1, seed=int(torch.randint(2**31 - 1, ())))
    with torch.no_grad():
        values = acq(raw)
    own = incumbent.reshape(-1, 1, d).to(raw)
    starts, _ = initialize_q_batch(raw, values, n=max(preset.num_restarts - own.shape[0], 1))
    starts = torch.cat([starts, own]).reshape(-1, d)
    # optimise in lengthscale units, where the acquisition is about equally curved in every dim
    scale = acq.inv_ls.detach() if isinstance(getattr(acq, "inv_ls", None), Tensor) else torch.ones(d, dtype=raw.dtype)
    scale = scale.reshape(d).to(raw)

    fused = getattr(acq, "has_fused_gradient", False)

    def neg_acq(z, batch_indices=None):
        x = torch.from_numpy(z).reshape(-1, d) / scale
        if fused:
            v, g = acq.value_and_grad(x)
        else:
            x.requires_grad_(True)
            v = acq(x.unsqueeze(-2))
            (g,) = torch.autograd.grad(v.sum(), x)
        return -v.detach().numpy(), -(g / scale).numpy()

    upper = scale.numpy()
    z, f, _ = fmin_l_bfgs_b_batched(
        neg_acq, (starts * scale).numpy(), bounds=[(0.0, u) for u in upper], pgtol=preset.pgtol, maxiter=preset.maxiter
    )
    f = torch.as_tensor(f)
    best = int(f.argmin())
    if margin is not None and own.shape[0] == 1 and bool(f[-1] <= f[best] + margin):
        best = f.shape[0] - 1  # the incumbent's own restart (the last start)
    return (torch.from_numpy(z[best]).reshape(1, d) / scale).clamp(0.0, 1.0).detach()


def explore_point(model: Model, d: int, preset: OptimizerPreset, incumbent: Tensor) -> Tensor:
    """A ``1 x d`` unit point that explores: ``preset.explore``'s maximiser (see OptimizerPreset)."""
    if preset.explore == "ucb":
        from botorch.acquisition import UpperConfidenceBound

        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=OptimizationWarning)
            return _optimize_from_incumbent(UpperConfidenceBound(model, beta=preset.explore_beta), d, preset, incumbent)
    bounds = torch.stack([torch.zeros(d), torch.ones(d)]).to(torch.float64)
    raw = draw_sobol_samples(bounds, n=preset.raw_samples, q=1, seed=int(torch.randint(2**31 - 1, ()))).reshape(-1, d)
    with torch.no_grad():
        f = model.posterior(raw).rsample().reshape(-1)
    return raw[f.argmax()].reshape(1, d)


def _coarse_acquisition(acq: AcquisitionFunction) -> AcquisitionFunction | None:
    """For qLogNEI on a sample model (whole networks as MC samples): the same acquisition on
    the first ``model.coarse_samples`` of its networks, or None when that is not fewer."""
    k = getattr(acq.model, "coarse_samples", None)
    sampler = getattr(acq, "sampler", None)
    if (
        k is None
        or type(acq) not in (qLogNoisyExpectedImprovement, _NetworkLogNEI)
        or not callable(getattr(sampler, "subset", None))  # a whole-network sampler (posterior.py)
        or k >= sampler.sample_shape.numel()
        or acq.X_pending is not None
    ):
        return None
    coarse = type(acq)(acq.model, X_baseline=acq.X_baseline, sampler=sampler.subset(k), prune_baseline=False)
    coarse.register_forward_pre_hook(_finite_gradients)  # made for this search only
    return coarse


def _optimize_two_stage(
    acq: AcquisitionFunction,
    coarse: AcquisitionFunction,
    bounds: Tensor,
    q: int,
    preset: OptimizerPreset,
    options: dict,
) -> Tensor:
    """Raw samples and every restart's L-BFGS-B on ``coarse`` (a few of ``acq``'s networks),
    then the best ``model.polished_restarts`` of those optima, judged by ``acq``, polished on it:
    most of the optimiser's evaluations cost a fraction of a full one, and the batch returned
    is a local optimum of ``acq`` itself."""
    starts, _ = optimize_acqf(
        coarse,
        bounds=bounds,
        q=q,
        num_restarts=preset.num_restarts,
        raw_samples=preset.raw_samples,
        options=options,
        return_best_only=False,
        # a restart's line search failing (L-BFGS-B's ABNORMAL) would rerun the whole stage from
        # new raw samples; its optima are only starting points for the polish
        retry_on_optimization_warning=getattr(acq.model, "retry_coarse", False),
    )
    starts = starts.reshape(-1, q, bounds.shape[-1])
    with torch.no_grad():
        polished = int(getattr(acq.model, "polished_restarts"))
        best = acq(starts).topk(min(polished, starts.shape[0])).indices
    polish = _polish_options(options, acq.model, "polish_maxiter")
    cands, _ = optimize_acqf(
        acq,
        bounds=bounds,
        q=q,
        num_restarts=best.numel(),
        batch_initial_conditions=starts[best],
        options=polish,
        return_best_only=False,
    )
    cands = cands.reshape(-1, q, bounds.shape[-1])
    with torch.no_grad():
        values = acq(cands)
    return cands[values.argmax()].detach()


def _polish_options(options: dict, model, cap_attr: str) -> dict:
    """A polish's L-BFGS-B options: the search's iteration budget and batch limit, the budget
    capped at ``model.<cap_attr>`` when the model sets one."""
    polish = {k: v for k, v in options.items() if k in ("maxiter", "batch_limit")}
    if (cap := getattr(model, cap_attr, None)) is not None:
        polish["maxiter"] = min(polish["maxiter"], int(cap))
    return polish


def _optimize_greedy_two_stage(
    acq: AcquisitionFunction,
    coarse: AcquisitionFunction,
    bounds: Tensor,
    q: int,
    preset: OptimizerPreset,
    options: dict,
) -> Tensor:
    """The batch built point by point (as BoTorch's ``sequential=True``), the points chosen so
    far pending: every L-BFGS-B problem is ``d``-dimensional and, qLogNEI being incremental,
    every evaluation covers one new point (the pending ones join the baseline once per step).
    ``model.greedy_polish``: "batch" (each point on ``coarse`` alone, then the whole batch
    polished jointly on ``acq`` from there, at most ``model.greedy_polish_maxiter``
    iterations) or "point" (each point by the two-stage search, both acquisitions with the
    pending points). ``model.greedy_restarts`` and ``model.greedy_maxiter``: each point's
    restarts and most iterations (None: the preset's)."""
    chosen: list[Tensor] = []
    batch_polish = getattr(acq.model, "greedy_polish", "batch") == "batch"
    per_point = dict(options)
    if (cap := getattr(acq.model, "greedy_maxiter", None)) is not None:
        per_point["maxiter"] = min(per_point["maxiter"], int(cap))
    if (restarts := getattr(acq.model, "greedy_restarts", None)) is not None:
        preset = replace(preset, num_restarts=int(restarts))
    try:
        for _ in range(q):
            pending = torch.cat(chosen) if chosen else None
            coarse.set_X_pending(pending)
            if batch_polish:
                x, _ = optimize_acqf(
                    coarse,
                    bounds=bounds,
                    q=1,
                    num_restarts=preset.num_restarts,
                    raw_samples=preset.raw_samples,
                    options=per_point,
                    retry_on_optimization_warning=getattr(acq.model, "retry_coarse", False),
                )
                chosen.append(x.reshape(1, -1))
            else:
                acq.set_X_pending(pending)
                chosen.append(_optimize_two_stage(acq, coarse, bounds, 1, preset, per_point))
    finally:
        acq.set_X_pending(None)
        coarse.set_X_pending(None)
    start = torch.cat(chosen).detach()
    if not batch_polish:
        return start
    polish = _polish_options(options, acq.model, "greedy_polish_maxiter")
    cands, _ = optimize_acqf(
        acq, bounds=bounds, q=q, num_restarts=1, batch_initial_conditions=start[None], options=polish
    )
    with torch.no_grad():  # L-BFGS-B returns its best iterate; the start can still be better
        values = acq(torch.stack([start, cands.reshape(q, -1)]))
    return (start, cands.reshape(q, -1))[int(values.argmax())].detach()


class _LevelIndexed(AcquisitionFunction):
    """``acq`` seen through level indices ``0..k-1`` on the discrete dims."""

    def __init__(self, acq: AcquisitionFunction, levels: dict[int, int]):
        super().__init__(model=acq.model)
        self.acq = acq
        self._dims = list(levels)
        self.register_buffer("_k", torch.tensor(list(levels.values()), dtype=torch.float64))
        self.X_pending = None

    def set_X_pending(self, X_pending: Tensor | None = None) -> None:
        self.X_pending = X_pending
        self.acq.set_X_pending(None if X_pending is None else self.to_unit(X_pending))

    def to_unit(self, X: Tensor) -> Tensor:
        X = X.clone()
        X[..., self._dims] = (X[..., self._dims] + 0.5) / self._k.to(X)
        return X

    def from_unit(self, U: Tensor) -> Tensor:
        X = U.clone()
        X[..., self._dims] = U[..., self._dims] * self._k.to(U) - 0.5
        return X

    @property
    def X_baseline(self) -> Tensor | None:
        # the mixed optimiser sprays start points around the observed points; without this
        # it would take the model's unit-cube inputs as level indices
        X = get_X_baseline(self.acq)
        return None if X is None else self.from_unit(X)

    def forward(self, X: Tensor) -> Tensor:
        return self.acq(self.to_unit(X))


def _fixed_draws(model: Model, sampler: object) -> bool:
    """Whether each MC sample is one fixed function (a whole network, no observation noise),
    so that a sample's values at the baseline do not depend on the candidates."""
    return (
        callable(getattr(sampler, "subset", None))  # a whole-network sampler (posterior.py)
        and getattr(model, "observation_noise", True) is False
        and getattr(model, "baseline_once", False)
    )


class _NetworkLogNEI(qLogNoisyExpectedImprovement):
    """qLogNEI whose MC samples are fixed functions (``_fixed_draws``): each sample's best value
    over the baseline is computed once, not at every evaluation with the candidates. The
    values are qLogNEI's own; an evaluation costs ``q`` points per sample instead of
    ``q`` + the baseline points that survived pruning (tens, where the networks disagree
    about the best training point)."""

    def _init_baseline(self, *args, **kwargs) -> None:
        self._best_baseline = None  # (re)set with the baseline, e.g. by pending points
        super()._init_baseline(*args, **kwargs)

    def _get_samples_and_objectives(self, X: Tensor) -> tuple[Tensor, Tensor]:
        if self._best_baseline is None:
            with torch.no_grad():
                base = self.X_baseline
                samples = self.get_posterior_samples(self.model.posterior(base))
                self._best_baseline = self._compute_best_feasible_objective(samples, self.objective(samples, X=base))
        samples = self.get_posterior_samples(self.model.posterior(X))
        return samples, self.objective(samples, X=X)

    def compute_best_f(self, obj: Tensor) -> Tensor:
        best = self._best_baseline
        return best.view(*best.shape, *(1,) * (obj.ndim - best.ndim - 1)).to(obj)
