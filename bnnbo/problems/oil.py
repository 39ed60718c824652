"""The study's ``oil`` problem: co-optimising three properties of an electrospun oil sorbent.

Wang et al. (2020, ACS Appl. Mater. Interfaces) fitted quadratic response surfaces to lab
measurements of water contact angle (WCA), oil absorption capacity (Q) and mechanical
strength (sigma); all three are maximised. bo_pr (Daulton et al. 2022) and the study use them
with V1, V5 continuous in [0, 1] and V2-V4 (5 levels), V6-V7 (4 levels) ordinal, each level
value divided by its largest level. Here the ordinal inputs are integer level indices.

The reference point is bo_pr's ``OilSorbent._ref_point`` negated into the maximisation
convention (as BoTorch's ``negate=True`` does). Its ``_max_hv = 1279774.75`` is not the
maximum of this function (a grid over V1, V5 and all level combinations dominates more, see
tests/problems/test_oil.py), so ``max_hv`` is unknown; ``STUDY_MAX_HV`` keeps bo_pr's value.
"""

from __future__ import annotations

import torch
from torch import Tensor

from bnnbo import paper
from bnnbo.problems.base import Problem
from bnnbo.space import DTYPE, Float, Integer, SearchSpace

#: Level values of the ordinal inputs, before division by their maximum.
LEVELS = {
    "V2": (0.7, 1.0, 1.4, 1.7, 2.0),
    "V3": (12.0, 15.0, 18.0, 21.0, 24.0),
    "V4": (0.12, 0.135, 0.15, 0.165, 0.18),
    "V6": (16.0, 20.0, 26.0, 28.0),
    "V7": (0.41, 0.6, 0.84, 1.32),
}
NAMES = ("V1", "V2", "V3", "V4", "V5", "V6", "V7")
#: bo_pr's ``OilSorbent._max_hv`` ("approximate for continuous"); a lower bound, not the maximum.
STUDY_MAX_HV = 1279774.75

# Response-surface coefficients (Wang et al. 2020, as in bo_pr's oil_sorbent.py).
# Columns: WCA, Q, sigma. A term "Vi*Vj" is a product, "Vi^2" a square; absent terms are 0.
_COEFFICIENTS = """
1      -197.0928  -212.8531    7.7696
V1      -78.3309   245.7998   15.4344
V2       98.6355  -127.3395  -10.6190
V3      300.0701   305.8461  -17.9367
V4       89.8360   638.1605   17.1385
V5      208.2343   301.2118    2.5026
V6      332.9341  -451.3796  -24.3010
V7      135.6621  -115.5485   10.6058
V1*V2   -11.0715    42.8351   -1.2041
V1*V3   201.8934   262.3775  -37.2207
V1*V4    17.1270  -103.5274   -3.2265
V1*V5     2.5198  -196.1568    7.3121
V1*V6  -109.3922  -394.7975   52.3994
V1*V7    30.1607  -176.3341    9.7485
V2*V3   -46.1790    74.8291  -15.9371
V2*V4    19.2888     4.1557   -1.1706
V2*V5  -102.9493  -133.8683   -2.6297
V2*V6   -19.1245    65.8711    7.0225
V2*V7    53.6297   -42.6911   -1.4938
V3*V4   -73.0649  -323.9363   30.2786
V3*V5   -37.7181  -107.3983   14.5061
V3*V6  -219.1268  -323.2353   48.5021
V3*V7   -55.3704    46.9172  -11.4857
V4*V5     3.8778  -144.4199   -3.1381
V4*V6    -6.9252   272.3729  -14.9747
V4*V7  -105.1650    49.0799    4.5204
V5*V6   -34.3181   318.4706  -17.6907
V5*V7   -36.3892  -236.2498  -19.2489
V6*V7   -82.3222   252.4848   -9.8219
V1^2    -16.7536     0.0     -18.7356
V2^2    -45.6507     0.0      12.1928
V3^2    -91.4134     0.0       0.0
V4^2      0.0     -286.0182  -17.5460
V5^2    -76.8701     0.0       5.4997
V6^2      0.0      393.5992  -26.2718
"""


def _parse(table: str) -> tuple[Tensor, Tensor, Tensor]:
    """``(constant 3, linear 7 x 3, quadratic 7 x 7 x 3)`` with ``f = c + v L + v Q v``."""
    const, lin, quad = torch.zeros(3, dtype=DTYPE), torch.zeros(7, 3, dtype=DTYPE), torch.zeros(7, 7, 3, dtype=DTYPE)
    for line in table.strip().splitlines():
        term, *vals = line.split()
        c = torch.tensor([float(v) for v in vals], dtype=DTYPE)
        if term == "1":
            const += c
        elif "*" in term:
            i, j = (NAMES.index(t) for t in term.split("*"))
            quad[i, j] += c
        elif term.endswith("^2"):
            i = NAMES.index(term[:-2])
            quad[i, i] += c
        else:
            lin[NAMES.index(term)] += c
    return const, lin, quad


CONST, LINEAR, QUADRATIC = _parse(_COEFFICIENTS)


def scaled_inputs(X: Tensor) -> Tensor:
    """``n x 7`` inputs (V1, V5 in [0, 1], others level indices) -> the polynomials' inputs."""
    V = X.clone()
    for name, values in LEVELS.items():
        table = torch.tensor(values, dtype=DTYPE)
        col = NAMES.index(name)
        V[:, col] = (table / table.max())[X[:, col].round().long()]
    return V


def oil_objectives(X: Tensor) -> Tensor:
    """``n x 3`` (WCA, Q, sigma) at ``n x 7`` original-unit inputs; all to be maximised."""
    V = scaled_inputs(X)
    return CONST + V @ LINEAR + torch.einsum("ni,nj,ijk->nk", V, V, QUADRATIC)


class OilSorbent(Problem):
    """3 objectives (WCA, Q, sigma), all maximised; 2 continuous + 5 ordinal inputs."""

    name = "oil"
    num_objectives = 3
    negated = False  # the three properties are maximised in the original problem too
    ref_point = torch.tensor([125.3865, 57.8292, -43.2665], dtype=DTYPE)
    max_hv = None  # see the module docstring
    paper_budget = paper.budget("oil")

    def __init__(self):
        params = [Float("V1", 0.0, 1.0)]
        params += [Integer(n, 0, len(LEVELS[n]) - 1) for n in ("V2", "V3", "V4")]
        params += [Float("V5", 0.0, 1.0)]
        params += [Integer(n, 0, len(LEVELS[n]) - 1) for n in ("V6", "V7")]
        super().__init__(SearchSpace(params))

    def _evaluate(self, X: Tensor) -> Tensor:
        return oil_objectives(X)


def oil() -> Problem:
    return OilSorbent()
