"""End to end: GP-BO beats random search in median over 5 seeds at equal budget."""

import statistics

import pytest
import torch

from bnnbo import get_problem, optimize


def random_search_best(problem, budget: int, seed: int) -> float:
    g = torch.Generator().manual_seed(10_000 + seed)
    U = torch.rand(budget, problem.dim, generator=g, dtype=torch.float64)
    return problem.evaluate(problem.space.from_unit(U)).max().item()


@pytest.mark.parametrize("name, budget, n_init", [("branin", 18, 6), ("hartmann6", 30, 10)])
def test_gp_beats_random_search(name, budget, n_init):
    problem = get_problem(name)
    bo = [optimize(problem, "gp", budget=budget, seed=s, q=1, n_init=n_init).best_value for s in range(5)]
    rs = [random_search_best(problem, budget, s) for s in range(5)]
    assert statistics.median(bo) > statistics.median(rs), (bo, rs)
    # and it gets close to the optimum (regret well below random search's)
    regret_bo = problem.optimal_value - statistics.median(bo)
    regret_rs = problem.optimal_value - statistics.median(rs)
    assert regret_bo < 0.5 * regret_rs, (regret_bo, regret_rs)
