import numpy as np
import pytest
import torch

from bnnbo import ConfigError, DataError, get_problem, optimize
from bnnbo.problems import pde as P

pytest.importorskip("numba", reason="pde needs the 'problems' extra")
T = lambda *rows: torch.tensor(rows, dtype=torch.float64)


def numpy_brusselator(params, noise, steps, dt=1e-3):
    """An independent vectorised port of the scheme: padded-edge Laplacian, explicit Euler."""
    a, b, d0, d1 = params
    u, v = np.full(noise.shape, a), b / a + 0.1 * noise

    def lap(f):
        g = np.pad(f, 1, mode="edge")  # zero flux: the ghost cell copies the edge cell
        return g[:-2, 1:-1] + g[2:, 1:-1] + g[1:-1, :-2] + g[1:-1, 2:] - 4 * f

    for _ in range(steps):
        du = d0 * lap(u) + a - (b + 1) * u + u * u * v
        dv = d1 * lap(v) + b * u - u * u * v
        u, v = u + dt * du, v + dt * dv
    return u, v


def test_space_direction_and_budget():
    p = get_problem("pde")
    assert (p.dim, p.num_objectives, p.negated) == (4, 1, True)
    assert p.space.bounds.tolist() == [[0.1, 0.1, 0.01, 0.01], [5.0, 5.0, 5.0, 5.0]]
    assert p.paper_budget == {"n_init": 5, "q": 1, "iterations": 30}
    with pytest.raises(DataError):
        p.evaluate(T([0.0, 1.0, 1.0, 1.0]))  # a below its bound
    with pytest.raises(ConfigError):
        get_problem("pde", backend="fortran")


def test_weighted_variance_closed_form():
    # constant fields: per field 496 border cells (weight 1) and 3600 inner cells (weight 0.1)
    a, c = 2.0, 3.0
    vals = np.repeat([a, 0.1 * a, c, 0.1 * c], [496, 3600, 496, 3600])
    expected = ((vals - vals.mean()) ** 2).sum() / (len(vals) - 1)
    assert P.weighted_variance(np.full((64, 64), a), np.full((64, 64), c)) == pytest.approx(expected, rel=1e-12)


def test_kernel_matches_independent_numpy_port():
    noise = np.random.default_rng(7).standard_normal((64, 64))
    params = np.array([1.0, 3.0, 1.0, 0.1])
    u, v = P.solve_numba(params, noise, t_range=0.3)
    ru, rv = numpy_brusselator(params, noise, steps=300)
    assert np.abs(u - ru).max() < 1e-12 and np.abs(v - rv).max() < 1e-12


def test_steady_state_is_kept():
    # (u, v) = (a, b / a) zeroes both reaction terms; without noise nothing moves
    u, v = P.solve_numba(np.array([2.0, 3.0, 0.5, 0.5]), np.zeros((64, 64)), t_range=1.0)
    assert np.allclose(u, 2.0, atol=1e-12) and np.allclose(v, 1.5, atol=1e-12)


def test_values_at_fixed_points():
    # computed once with the numba backend at t = 20; the py-pde backend (the study's code
    # path) gave the same values to 7e-16 (see test_pypde_backend_agrees)
    p = get_problem("pde")
    y = p.evaluate(T([1.0, 3.0, 1.0, 0.1], [2.5, 2.5, 2.5, 2.5]))[:, 0]
    assert y.tolist() == pytest.approx([-0.5669614687295554, -0.3371132855420608], rel=1e-9)
    assert torch.equal(p.evaluate(T([1.0, 3.0, 1.0, 0.1])), y[:1, None])  # deterministic


def test_seed_changes_initial_condition():
    x = T([1.0, 3.0, 1.0, 0.1])
    assert get_problem("pde", seed=1, t_range=1.0).evaluate(x) != get_problem("pde", t_range=1.0).evaluate(x)


def test_blowup_gives_a_finite_reproducible_value():
    p = get_problem("pde", t_range=0.01)
    u, v = p._finite(np.array([[np.inf, 1.0]]), 0), p._finite(np.array([[np.nan, 1.0]]), 0)
    assert np.isfinite(u).all() and u[0, 0] == v[0, 0] and abs(u[0, 0]) > 1.0


@pytest.mark.slow
def test_pypde_backend_agrees():
    pytest.importorskip("pde")
    X = T([1.0, 3.0, 1.0, 0.1], [0.1, 5.0, 0.01, 0.01])
    a = get_problem("pde").evaluate(X)
    b = get_problem("pde", backend="py-pde").evaluate(X)
    assert torch.allclose(a, b, rtol=1e-12, atol=0)


def test_short_bo_run_with_gp():
    res = optimize("pde", surrogate="gp", budget=4, n_init=3, q=1, seed=0, acq_optimizer="paper")
    assert res.Y.shape == (4, 1) and torch.isfinite(res.Y).all()
