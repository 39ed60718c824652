"""The study's ``pde`` problem: a Brusselator reaction-diffusion simulation (Maddox et al. 2021).

    u_t = d0 * lap(u) + a - (b + 1) u + u^2 v
    v_t = d1 * lap(v) + b u - u^2 v

on a 64 x 64 unit grid with zero-flux (Neumann) boundaries, explicit Euler with dt = 1e-3 up
to t = 20 (20 000 steps), started from u = a and v = b / a + 0.1 * N(0, 1) per cell. The
objective is the variance of the two final fields weighted 1.0 on the two outermost rows and
columns and 0.1 inside; it is minimised, so ``evaluate`` returns its negation.

The study drew the initial noise afresh on every call; here it comes from ``seed``, so an
evaluation is deterministic. Two backends solve the same scheme:

* ``"numba"`` (default): one numba kernel that takes a, b, d0, d1 as arguments, compiled once
  per machine (cached on disk). About 0.3 s per evaluation here.
* ``"py-pde"``: the study's code path through py-pde's ``PDE`` class. py-pde bakes the
  parameters into the compiled right-hand side, so every new point recompiles (about 15 s per
  evaluation here, 90 % of it compilation). Kept as the reference the default is tested against.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from bnnbo import paper
from bnnbo.errors import ConfigError
from bnnbo.problems.availability import require
from bnnbo.problems.base import Problem, ProblemInfo, with_info
from bnnbo.space import DTYPE, Float, SearchSpace

GRID = 64
T_RANGE = 20.0
DT = 1e-3
BACKENDS = ("numba", "py-pde")
#: The study replaced non-finite entries of a blown-up solution by 1e5 * N(0, 1) draws.
BLOWUP_SCALE = 1e5


def weighted_variance(u: np.ndarray, v: np.ndarray) -> float:
    """Unbiased variance of the stacked ``2 x G x G`` fields after the border weighting."""
    fields = np.stack([u, v])
    weights = np.full(fields.shape, 0.1)
    border = [0, 1, -2, -1]
    weights[:, border, :] = 1.0
    weights[:, :, border] = 1.0
    return float((fields * weights).var(ddof=1))


def _euler_steps(u, v, a, b, d0, d1, dt, steps):  # pragma: no cover - runs compiled
    """Explicit Euler on ``G x G`` arrays in place; Neumann boundaries mirror the edge cell."""
    nx, ny = u.shape
    du = np.empty_like(u)
    dv = np.empty_like(v)
    for _ in range(steps):
        for i in range(nx):
            im = i - 1 if i > 0 else 0
            ip = i + 1 if i < nx - 1 else nx - 1
            for j in range(ny):
                jm = j - 1 if j > 0 else 0
                jp = j + 1 if j < ny - 1 else ny - 1
                lu = u[im, j] + u[ip, j] + u[i, jm] + u[i, jp] - 4.0 * u[i, j]
                lv = v[im, j] + v[ip, j] + v[i, jm] + v[i, jp] - 4.0 * v[i, j]
                uuv = u[i, j] * u[i, j] * v[i, j]
                du[i, j] = d0 * lu + a - (b + 1.0) * u[i, j] + uuv
                dv[i, j] = d1 * lv + b * u[i, j] - uuv
        for i in range(nx):
            for j in range(ny):
                u[i, j] += dt * du[i, j]
                v[i, j] += dt * dv[i, j]


_KERNEL = None


def _numba_kernel():
    global _KERNEL
    if _KERNEL is None:
        numba = require("numba", "pde", package="numba (via py-pde)")
        _KERNEL = numba.njit(cache=True)(_euler_steps)
    return _KERNEL


def solve_numba(params: np.ndarray, noise: np.ndarray, t_range: float) -> tuple[np.ndarray, np.ndarray]:
    """Final ``(u, v)`` for ``params = (a, b, d0, d1)``."""
    a, b, d0, d1 = (float(p) for p in params)
    u = np.full(noise.shape, a)
    v = b / a + 0.1 * noise
    with np.errstate(over="ignore", invalid="ignore"):
        _numba_kernel()(u, v, a, b, d0, d1, DT, round(t_range / DT))
    return u, v


def solve_pypde(params: np.ndarray, noise: np.ndarray, t_range: float) -> tuple[np.ndarray, np.ndarray]:
    """The same solve through py-pde (the study's implementation); slow: compiles per call."""
    pde = require("pde", "pde", package="py-pde")
    a, b, d0, d1 = (float(p) for p in params)
    eq = pde.PDE(
        {"u": "d0 * laplace(u) + a - (b + 1) * u + u**2 * v", "v": "d1 * laplace(v) + b * u - u**2 * v"},
        bc={"derivative": 0},
        consts={"a": a, "b": b, "d0": d0, "d1": d1},
    )
    grid = pde.UnitGrid([GRID, GRID])
    state = pde.FieldCollection([pde.ScalarField(grid, a), pde.ScalarField(grid, b / a + 0.1 * noise)])
    with np.errstate(over="ignore", invalid="ignore"):
        sol = eq.solve(state, t_range=t_range, dt=DT, solver="euler", tracker=None)
    return sol[0].data.copy(), sol[1].data.copy()


class Brusselator(Problem):
    """Minimise the weighted variance of a Brusselator simulation over (a, b, d0, d1)."""

    name = "pde"
    num_objectives = 1
    paper_budget = paper.budget("pde")

    def __init__(self, seed: int = 0, backend: str = "numba", t_range: float = T_RANGE):
        super().__init__(
            SearchSpace(
                [
                    Float("a", 0.1, 5.0),
                    Float("b", 0.1, 5.0),
                    Float("d0", 0.01, 5.0),
                    Float("d1", 0.01, 5.0),
                ]
            )
        )
        _check(backend, t_range)
        if backend == "numba":
            _numba_kernel()  # fail now, naming the extra, rather than at the first evaluation
        self.seed, self.backend, self.t_range = int(seed), backend, float(t_range)
        self._noise = np.random.default_rng(self.seed).standard_normal((GRID, GRID))

    def simulate(self, params: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Final fields ``(u, v)``, each ``64 x 64``, with non-finite entries replaced."""
        solve = solve_numba if self.backend == "numba" else solve_pypde
        u, v = solve(params, self._noise, self.t_range)
        return self._finite(u, 0), self._finite(v, 1)

    def _finite(self, field: np.ndarray, which: int) -> np.ndarray:
        bad = ~np.isfinite(field)
        if bad.any():  # as the study, but from a seeded stream so the value is reproducible
            rng = np.random.default_rng([self.seed, which])
            field = field.copy()
            field[bad] = BLOWUP_SCALE * rng.standard_normal(int(bad.sum()))
        return field

    def _evaluate(self, X: Tensor) -> Tensor:
        values = [-weighted_variance(*self.simulate(x)) for x in X.numpy()]
        return torch.tensor(values, dtype=DTYPE)


def _check(backend: object, t_range: object) -> None:
    if backend not in BACKENDS:
        raise ConfigError(f"pde: backend must be one of {BACKENDS}, got {backend!r}")
    if not (isinstance(t_range, (int, float)) and t_range >= DT):
        raise ConfigError(f"pde: t_range must be a number >= {DT}, got {t_range!r}")
    if backend == "numba":
        require("numba", "pde", package="numba (via py-pde)")
    else:
        require("pde", "pde", package="py-pde")


def pde_info(seed: int = 0, backend: str = "numba", t_range: float = T_RANGE) -> ProblemInfo:
    """The problem's metadata: its options checked, the solver neither compiled nor run."""
    _check(backend, t_range)
    return ProblemInfo(
        name=Brusselator.name,
        dim=4,
        num_objectives=1,
        negated=Brusselator.negated,
        paper_budget=Brusselator.paper_budget,
    )


@with_info(pde_info)
def pde(seed: int = 0, backend: str = "numba", t_range: float = T_RANGE) -> Problem:
    return Brusselator(seed=seed, backend=backend, t_range=t_range)
