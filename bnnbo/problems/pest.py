"""The study's ``pest`` problem: pest control over 25 stages (COMBO, Oh et al. 2019).

At each stage one of 5 choices is made: no pesticide (0) or pesticide type 1-4. Pests spread
by a random rate; a pesticide cuts them by a random control rate, costs a price (discounted by
how often that type is used overall) and its effect wears off as pests develop tolerance.
The cost is the total price paid plus, per stage, the fraction of 100 simulated fields whose
pest fraction is above 0.1; it is minimised, so ``evaluate`` returns its negation.

Reproduces the study's deterministic version (``seed=1``, bnn-bo ``pest_control.py``),
including a quirk it inherits: every random draw starts a fresh ``RandomState(seed)``, so all
stages share one spread-rate draw and the control draws reuse the same uniform stream. The study
added 1e-6 * N(0, 1) noise to each value "to prevent training instabilities"; that is left out,
so equal inputs give equal values.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from bnnbo import paper
from bnnbo.problems.base import Problem
from bnnbo.space import DTYPE, Categorical, SearchSpace

STAGES = 25
CHOICES = ("none", "type1", "type2", "type3", "type4")
SIMULATIONS = 100
THRESHOLD = 0.1  # a field is "infested" above this pest fraction
INIT_BETA = (1.0, 30.0)  # initial pest fraction ~ Beta(1, 30)
SPREAD_BETA = (1.0, 17.0 / 3.0)  # spread rate ~ Beta(1, 17/3)
CONTROL_ALPHA = 1.0  # control rate ~ Beta(1, beta_k), beta_k grows with use
CONTROL_BETA = {1: 2.0 / 7.0, 2: 3.0 / 7.0, 3: 3.0 / 7.0, 4: 5.0 / 7.0}
TOLERANCE_RATE = {1: 1.0 / 7.0, 2: 2.5 / 7.0, 3: 2.0 / 7.0, 4: 0.5 / 7.0}
PRICE = {1: 1.0, 2: 0.8, 3: 0.7, 4: 0.5}
MAX_DISCOUNT = {1: 0.2, 2: 0.3, 3: 0.3, 4: 0.0}


def _beta(seed: int, a: float, b: float) -> np.ndarray:
    # a fresh RandomState per draw, exactly as the study's code (see the module docstring)
    return np.random.RandomState(seed).beta(a, b, size=SIMULATIONS)


def pest_cost(choices: np.ndarray, seed: int = 1) -> float:
    """The cost of one schedule: ``choices`` holds 25 integers in 0..4."""
    choices = np.asarray(choices, dtype=int)
    n = len(choices)
    control_beta = dict(CONTROL_BETA)
    spread = _beta(seed, *SPREAD_BETA)  # identical at every stage (fresh RandomState)
    frac = _beta(seed, *INIT_BETA)
    price_paid, infested = 0.0, 0.0
    for k in choices:
        infested += float(np.mean(frac > THRESHOLD))
        if k > 0:
            control = _beta(seed, CONTROL_ALPHA, control_beta[k])
            frac = (1.0 - control) * frac
            control_beta[k] += TOLERANCE_RATE[k] / n
            uses = float(np.sum(choices == k))
            price_paid += PRICE[k] * (1.0 - MAX_DISCOUNT[k] / n * uses)
        else:
            frac = spread * (1.0 - frac) + frac
    return price_paid + infested


class PestControl(Problem):
    """25 categorical stages x 5 choices; minimise cost (values negated)."""

    name = "pest"
    num_objectives = 1
    paper_budget = paper.budget("pest")

    def __init__(self, seed: int = 1):
        super().__init__(SearchSpace([Categorical(f"stage{i + 1}", CHOICES) for i in range(STAGES)]))
        self.seed = int(seed)

    def _evaluate(self, X: Tensor) -> Tensor:
        idx = X.round().long().numpy()
        return torch.tensor([-pest_cost(row, self.seed) for row in idx], dtype=DTYPE)


def pest(seed: int = 1) -> Problem:
    return PestControl(seed=seed)
