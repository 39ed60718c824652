import math

import pytest
import torch

from bnnbo import DataError, get_problem, optimize
from bnnbo.problems import distill as D

pytest.importorskip("sklearn", reason="distill needs the 'problems' extra (scikit-learn)")


@pytest.fixture(scope="module")
def problem(tmp_path_factory):
    return get_problem("distill", cache=str(tmp_path_factory.mktemp("cache")))


def test_space_direction_and_budget(problem):
    assert (problem.dim, problem.num_objectives, problem.negated) == (2390, 1, True)
    assert problem.space.bounds[:, 0].tolist() == [-1.0, 1.0]
    assert problem.paper_budget == {"n_init": 100, "q": 10, "iterations": 25}
    with pytest.raises(DataError):
        problem.evaluate(torch.full((1, 2390), 1.5))


def test_student_matches_torch_modules():
    # the study's LeNetSmall shape built from nn modules and filled from the same vector
    net = torch.nn.Sequential(
        torch.nn.Conv2d(1, 16, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(16, 12, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),
        torch.nn.Flatten(),
        torch.nn.Linear(48, 10),
    ).double()
    x = torch.rand(2390, dtype=torch.float64, generator=torch.Generator().manual_seed(0)) * 2 - 1
    torch.nn.utils.vector_to_parameters(x, net.parameters())
    images = torch.rand(7, 1, 8, 8, dtype=torch.float64)
    with torch.no_grad():
        assert torch.allclose(D.student_logits(x, images), net(images), atol=1e-12)


def test_teacher_is_good_and_cached(problem):
    y = problem.evaluate(torch.zeros(1, 2390, dtype=torch.float64))
    assert problem.teacher_accuracy > 0.95  # on the 500 held-out images
    files = list(problem.cache.glob("distill-teacher-*.pt"))
    assert len(files) == 1
    again = get_problem("distill", cache=str(problem.cache))  # loads instead of training
    assert torch.equal(again.evaluate(torch.zeros(1, 2390, dtype=torch.float64)), y)


def test_zero_student_value_is_log10_minus_teacher_entropy(problem):
    # all-zero weights give uniform student probabilities, so KL(p || uniform) = log 10 - H(p)
    y = problem.evaluate(torch.zeros(1, 2390, dtype=torch.float64)).item()
    logp = problem._teacher_logp
    entropy = -(logp.exp() * logp).sum(-1).mean().item()
    assert y == pytest.approx(-(math.log(10) - entropy), rel=1e-12)


def test_values_are_non_positive_and_fixed(problem):
    X = problem.space.sobol(6, seed=0)
    y = problem.evaluate(X)[:, 0]
    assert (y <= 0).all() and torch.equal(problem.evaluate(X)[:, 0], y)
    # computed once (teacher trained with seed 0, one thread, float64); the tolerance allows
    # for a different BLAS rounding the 200 training steps elsewhere
    x = torch.linspace(-1, 1, 2390, dtype=torch.float64) * 0.3
    assert problem.evaluate(x).item() == pytest.approx(-2.2675420741437837, rel=1e-4)


def test_short_bo_run_with_gp(problem):
    res = optimize(problem, surrogate="gp", budget=5, n_init=4, q=1, seed=0, acq_optimizer="paper")
    assert res.Y.shape == (5, 1) and (res.Y <= 0).all()


def test_corrupt_cache_is_retrained(tmp_path, problem):
    path = tmp_path / f"distill-teacher-{D.RECIPE}-seed0.pt"
    path.write_bytes(b"not a checkpoint")
    p = get_problem("distill", cache=str(tmp_path))
    x = torch.zeros(1, 2390, dtype=torch.float64)
    assert torch.equal(p.evaluate(x), problem.evaluate(x))  # same seed, same teacher
    assert path.stat().st_size > 1000
