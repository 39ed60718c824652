import pytest
import torch

from bnnbo import (
    Categorical,
    ConfigError,
    DataError,
    Float,
    Integer,
    Optimizer,
    SearchSpace,
    get_problem,
    optimize,
)
from botorch.utils.multi_objective.box_decompositions import DominatedPartitioning

from bnnbo.optimizer import derive_seed, progress_trace


def test_same_seed_same_run_and_different_seed_differs():
    a = optimize("branin", budget=9, seed=4, n_init=5, q=2)
    b = optimize("branin", budget=9, seed=4, n_init=5, q=2)
    c = optimize("branin", budget=9, seed=5, n_init=5, q=2)
    assert torch.equal(a.X, b.X) and torch.equal(a.Y, b.Y)
    assert not torch.equal(a.X, c.X)


def test_result_contents():
    r = optimize("branin", budget=9, seed=0, n_init=5, q=2)
    assert r.X.shape == (9, 2) and r.Y.shape == (9, 1)
    assert r.initial.tolist() == [True] * 5 + [False] * 4
    assert len(r.fit_seconds) == len(r.acq_seconds) == 2
    assert torch.equal(r.trace, r.Y[:, 0].cummax(0).values)
    assert r.best_value == r.Y.max().item() and r.best_x.tolist() == r.X[r.Y.argmax()].tolist()


def test_budget_not_divisible_by_q_is_respected():
    r = optimize("branin", budget=8, seed=0, n_init=5, q=2)
    assert r.X.shape[0] == 8


@pytest.mark.parametrize("warm_start", [False, True])
def test_resumed_optimizer_continues_identically(warm_start):
    p = get_problem("branin")
    settings = {"warm_start": warm_start}
    full = Optimizer(p.space, seed=3, n_init=4, surrogate_settings=settings)
    states = []
    for _ in range(7):
        X = full.ask()
        full.tell(X, p.evaluate(X))
        states.append(full.surrogate_state)
    part = Optimizer(p.space, seed=3, n_init=4, surrogate_settings=settings)
    if warm_start:  # a warm-started GP resumes from the state stored with the evaluations
        part.restore(full.history[:5], states[4])
    else:
        part.tell(full.X[:5], full.Y[:5])  # as if reloaded from a store
    for _ in range(2):
        X = part.ask()
        part.tell(X, p.evaluate(X))
    assert torch.equal(part.X, full.X)


def test_multiobjective_trace_is_hypervolume():
    p = get_problem("branincurrin")
    r = optimize(p, budget=8, seed=0, n_init=6, q=1)
    assert r.Y.shape == (8, 2)
    assert (r.trace.diff() >= 0).all()
    for n in (3, 8):  # the trace is the dominated hypervolume of the first n points
        better = (r.Y[:n] > p.ref_point).all(-1)
        hv = (
            DominatedPartitioning(ref_point=p.ref_point, Y=r.Y[:n][better]).compute_hypervolume()
            if better.any()
            else 0.0
        )
        assert r.trace[n - 1].item() == pytest.approx(float(hv))
    Y = torch.tensor([[-1.0, -1.0], [-2.0, -0.5], [-10.0, -10.0]], dtype=torch.float64)
    # rectangles above (-18, -6): 17 x 5, plus the strip of the second point 16 x 0.5
    assert progress_trace(Y, p.ref_point).tolist() == pytest.approx([85.0, 93.0, 93.0])
    with pytest.raises(DataError, match="one objective"):
        _ = r.best_value


def test_paper_mode_runs_single_and_multi_objective():
    assert optimize("branin", budget=7, seed=0, n_init=5, acquisition="paper").X.shape == (7, 2)
    assert optimize("branincurrin", budget=7, seed=0, n_init=5, q=2, acquisition="paper").Y.shape == (7, 2)


def test_minimisation_convention():
    space = SearchSpace([Float("x", -1.0, 2.0)])
    opt = Optimizer(space, seed=0, n_init=4, maximize=False)
    f = lambda X: (X - 0.5) ** 2  # noqa: E731
    for _ in range(6):
        X = opt.ask()
        opt.tell(X, f(X))
    # model-based points move towards the minimum at 0.5
    assert (opt.X[4:, 0] - 0.5).abs().min() < (opt.X[:4, 0] - 0.5).abs().min()
    assert torch.equal(opt.Y, f(opt.X))  # values stay in the user's convention


@pytest.mark.parametrize("acquisition", ["default", "paper"])
def test_mixed_space_asks_valid_points(acquisition):
    space = SearchSpace([Float("x", 0.0, 1.0), Integer("n", 1, 5), Categorical("c", ("a", "b", "c"))])
    opt = Optimizer(space, seed=1, n_init=5, q=2, acquisition=acquisition)
    f = lambda X: -((X[:, 0] - 0.3) ** 2) - (X[:, 1] - 4) ** 2 + (X[:, 2] == 1).double()  # noqa: E731
    for _ in range(5):  # design in batches of 2, 2, 1, then two model-based batches of 2
        X = opt.ask()
        space.validate(X)  # whole numbers, inside bounds
        opt.tell(X, f(X).unsqueeze(-1))
    assert opt.n_told == 9 and [e.initial for e in opt.history].count(False) == 4


def test_tell_rejects_bad_input_and_changes_nothing():
    opt = Optimizer(SearchSpace.box([[0.0, 0.0], [1.0, 1.0]]), seed=0, n_init=3)
    X = opt.ask(2)
    opt.tell(X, torch.ones(2, 1))
    for bad_X, bad_Y, msg in [
        (X, torch.tensor([[1.0], [float("nan")]]), r"Y\[1, 0\] is nan"),
        (X, torch.tensor([[1.0], [float("inf")]]), r"Y\[1, 0\] is inf"),
        (X, torch.ones(3, 1), r"Y must have shape 2 x 1"),
        (torch.ones(2, 3), torch.ones(2, 1), r"shape n x 2"),
        (torch.full((1, 2), 1.5), torch.ones(1, 1), "outside the bounds"),
    ]:
        with pytest.raises(DataError, match=msg):
            opt.tell(bad_X, bad_Y)
        assert opt.n_told == 2
    assert torch.equal(opt.X, X)


@pytest.mark.parametrize(
    "kwargs, msg",
    [
        ({"q": 0}, "q must be an integer >= 1"),
        ({"n_init": 0}, "n_init must be an integer >= 2"),
        ({"seed": -1}, "seed must be an integer >= 0"),
        ({"acquisition": "ucb"}, "unknown acquisition mode 'ucb'"),
        ({"acq_optimizer": "fast"}, "unknown acquisition optimiser preset 'fast'"),
        ({"maximize": [True, False]}, r"maximize must be True, False or 1 bool\(s\)"),
        ({"surrogate": "gpp"}, "unknown surrogate 'gpp'"),
        ({"surrogate_settings": {"priors": 1}}, "'priors' = 1"),
    ],
)
def test_optimizer_argument_errors(kwargs, msg):
    with pytest.raises((ConfigError, KeyError), match=msg):
        Optimizer(SearchSpace.box([[0.0], [1.0]]), **kwargs)


def test_initial_design_first_then_model():
    opt = Optimizer(SearchSpace.box([[0.0], [1.0]]), seed=2, n_init=3, q=2)
    X1 = opt.ask()
    assert X1.shape == (2, 1)
    opt.tell(X1, X1.sin())
    X2 = opt.ask()
    assert X2.shape == (1, 1)  # the rest of the design, not more
    opt.tell(X2, X2.sin())
    assert opt.ask().shape == (2, 1) and opt.last_model is not None


def test_derive_seed_is_stable_and_distinct():
    assert derive_seed(0, 5) == derive_seed(0, 5)
    assert len({derive_seed(0, k) for k in range(100)}) == 100
    assert derive_seed(1, "init") != derive_seed(0, "init")


def test_for_problem_takes_the_problems_space_objectives_and_reference_point():
    from bnnbo.optimizer import Optimizer
    from bnnbo.problems import get_problem

    p = get_problem("branincurrin")
    opt = Optimizer.for_problem(p, "gp", seed=3, q=2)
    assert opt.space is p.space and opt.num_objectives == 2 and opt.q == 2 and opt.seed == 3
    direct = Optimizer(p.space, 2, "gp", ref_point=p.ref_point, seed=3, q=2)
    assert torch.equal(opt._ref_max, direct._ref_max) and torch.equal(opt.ask(), direct.ask())
