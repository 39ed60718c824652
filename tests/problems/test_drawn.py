import itertools

import pytest
import torch

from bnnbo import ConfigError, get_problem, optimize


@pytest.fixture(autouse=True)
def _seeded_nndraw(monkeypatch):
    """These tests are about the seeded draws: the study's file must not replace them."""
    monkeypatch.delenv("BNNBO_NNDRAW_WEIGHTS", raising=False)


def test_poly_definition_and_defaults():
    p = get_problem("poly")
    assert (p.dim, p.num_objectives, p.seed, p.negated) == (200, 1, 2, False)
    assert p.paper_budget == {"n_init": 100, "q": 10, "iterations": 25}
    X = torch.rand(5, 200, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    # the study's formula: sum over i < d/4 of prod over j < 4 of (x[i + j d/4] - c[i + j d/4])
    g = 50
    expected = [
        sum(torch.prod(torch.stack([x[i + j * g] - p.c[i + j * g] for j in range(4)])) for i in range(g)) for x in X
    ]
    assert p.evaluate(X)[:, 0].tolist() == pytest.approx([float(e) for e in expected], rel=1e-12)
    # computed once (seed 2); the draw is a torch.Generator stream, the same on any machine
    assert p.evaluate(torch.full((1, 200), 0.5)).item() == pytest.approx(14.066251166695192, rel=1e-12)
    assert p.optimal_value == pytest.approx(124.9875150917919, rel=1e-12)
    with pytest.raises(ConfigError):
        get_problem("poly", dim=10)


def test_poly_optimum_by_enumeration():
    # d = 8: the function is multilinear, so its maximum is at one of the 256 box vertices
    p = get_problem("poly", dim=8, seed=5)
    vertices = torch.tensor(list(itertools.product([0.0, 1.0], repeat=8)), dtype=torch.float64)
    assert p.optimal_value == pytest.approx(p.evaluate(vertices).max().item(), rel=1e-12)
    big = get_problem("poly")
    assert big.evaluate(big.maximiser()).item() == pytest.approx(big.optimal_value, rel=1e-12)
    assert big.evaluate(big.space.sobol(256, seed=0)).max().item() < big.optimal_value


def test_nndraw_matches_torch_modules():
    p = get_problem("nndraw")
    assert (p.dim, p.num_objectives, p.seed) == (400, 1, 2)
    assert p.paper_budget == {"n_init": 100, "q": 10, "iterations": 50}
    # an independent build: nn.Sequential filled from one N(0, 1) vector, weight then bias
    net = torch.nn.Sequential(
        torch.nn.Linear(400, 256), torch.nn.Tanh(), torch.nn.Linear(256, 256), torch.nn.Tanh(), torch.nn.Linear(256, 1)
    ).double()
    n = sum(t.numel() for t in net.parameters())
    gen = torch.Generator().manual_seed(2)
    chunks = [torch.randn(t.shape, generator=gen, dtype=torch.float64) for t in net.parameters()]
    torch.nn.utils.vector_to_parameters(torch.cat([c.flatten() for c in chunks]), net.parameters())
    assert n == 400 * 256 + 256 + 256 * 256 + 256 + 257
    X = torch.rand(4, 400, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert torch.allclose(p.evaluate(X), net(X), rtol=1e-12, atol=1e-10)
    # computed once (seed 2)
    assert p.evaluate(torch.full((1, 400), 0.5)).item() == pytest.approx(8.605245605226218, rel=1e-10)
    assert get_problem("nndraw", seed=3).evaluate(X[:1]).item() != p.evaluate(X[:1]).item()


@pytest.mark.parametrize("name", ["poly", "nndraw"])
def test_short_bo_run_with_gp(name):
    res = optimize(name, surrogate="gp", budget=6, n_init=4, q=2, seed=0, acq_optimizer="paper")
    assert res.Y.shape == (6, 1) and torch.isfinite(res.Y).all()


def test_nndraw_identity_is_the_weights_files_hash(tmp_path, monkeypatch):
    import hashlib

    from bnnbo.problems import problem_info

    monkeypatch.delenv("BNNBO_NNDRAW_WEIGHTS", raising=False)
    options = {"dim": 4, "width": 3, "depth": 1}
    assert get_problem("nndraw", **options).identity() == {} == problem_info("nndraw", **options).identity
    path = tmp_path / "w.pt"
    torch.save(torch.linspace(-1, 1, 19, dtype=torch.float64), path)
    want = {"weights_sha256": hashlib.sha256(path.read_bytes()).hexdigest()}
    assert get_problem("nndraw", weights=str(path), **options).identity() == want
    monkeypatch.setenv("BNNBO_NNDRAW_WEIGHTS", str(path))
    built = get_problem("nndraw", **options)
    assert built.identity() == want == problem_info("nndraw", **options).identity == built.info().identity
    assert get_problem("poly", dim=8).identity() == {}
