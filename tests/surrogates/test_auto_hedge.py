"""auto with combine="hedge": every candidate proposes, one proposal is drawn by past gains."""

import math

import pytest
import torch

from bnnbo import ConfigError, Optimizer, get_surrogate, optimize
from bnnbo.problems import get_problem
from bnnbo.surrogates.combined.auto import _hedge_gains
from bnnbo.testing.conformance import toy_data


class _Flat:
    """A model whose posterior mean is a fixed function of x (the first coordinate times a scale)."""

    def __init__(self, scale):
        self.scale = scale

    def posterior(self, X):
        class P:
            mean = self.scale * X[..., :1]

        return P()


def test_gains_add_the_standardised_mean_of_the_models():
    X, Y = toy_data(n=12)
    proposals = {"a": [0.2] * X.shape[1], "b": [0.8] * X.shape[1]}
    hedge = {"gains": {"a": 1.0, "b": 0.5}, "proposals": proposals, "n": 11}
    out, failed = _hedge_gains(hedge, {"m1": _Flat(1.0), "m2": _Flat(3.0)}, X, Y)
    assert failed == {}
    y = Y[:, 0]
    for label, x0, before in (("a", 0.2, 1.0), ("b", 0.8, 0.5)):
        mean = (1.0 * x0 + 3.0 * x0) / 2  # averaged over the models
        assert out["gains"][label] == pytest.approx(before + (mean - float(y.mean())) / float(y.std()))
    assert out["proposals"] == {} and out["n"] == 12
    # nothing told since the proposals (a repeated ask): no reward
    same, _ = _hedge_gains({**hedge, "n": 12}, {"m1": _Flat(1.0)}, X, Y)
    assert same["gains"] == {"a": 1.0, "b": 0.5}


def test_a_model_that_cannot_predict_does_not_judge():
    class Broken:
        def posterior(self, X):
            raise RuntimeError("no")

    X, Y = toy_data(n=8)
    hedge = {"gains": {}, "proposals": {"a": [0.5] * X.shape[1]}, "n": 7}
    out, failed = _hedge_gains(hedge, {"bad": Broken(), "ok": _Flat(2.0)}, X, Y)
    want = (2.0 * 0.5 - float(Y[:, 0].mean())) / float(Y[:, 0].std())
    assert out["gains"]["a"] == pytest.approx(want)
    assert failed == {"bad": "RuntimeError: no"}
    assert _hedge_gains(hedge, {"bad": Broken()}, X, Y)[0]["gains"] == {}


def test_pick_draws_by_exp_eta_gain_and_keeps_the_proposals():
    X, Y = toy_data(n=10)
    a = get_surrogate("auto", combine="hedge", hedge_eta=0.5)
    a.fit(X, Y, seed=0)
    assert set(a.models_) == {"gp", "ibnn"}
    a.state_["hedge"]["gains"] = {"gp": 2.0, "ibnn": 0.0}
    props = {"gp": torch.full((1, X.shape[1]), 0.25, dtype=X.dtype), "ibnn": torch.zeros(1, X.shape[1], dtype=X.dtype)}
    label = a.hedge_pick(props, seed=3)
    p = a.diagnostics_["hedge"]["probabilities"]
    assert p["gp"] == pytest.approx(1 / (1 + math.exp(-0.5 * 2.0)))
    assert a.diagnostics_["served"] == label and label in props
    assert a.state_["hedge"]["proposals"]["gp"] == [0.25] * X.shape[1]
    # the draw follows the seed and the probabilities: over many seeds gp is taken ~73% of the time
    picks = [a.hedge_pick(props, seed=s) for s in range(400)]
    assert 0.65 < picks.count("gp") / len(picks) < 0.81
    # a candidate without a gain yet counts the others' mean
    a.state_["hedge"]["gains"] = {"gp": 1.0}
    a.hedge_pick(props, seed=0)
    assert a.diagnostics_["hedge"]["probabilities"]["ibnn"] == pytest.approx(0.5)


def test_pick_needs_a_hedge_fit_and_one_finite_point_per_candidate():
    from bnnbo.errors import SurrogateError

    X, Y = toy_data(n=10)
    a = get_surrogate("auto")
    a.fit(X, Y, seed=0)
    with pytest.raises(SurrogateError, match="hedge_pick needs a fit with combine='hedge'"):
        a.hedge_pick({"gp": X[:1]}, seed=0)
    h = get_surrogate("auto", combine="hedge")
    h.fit(X, Y, seed=0)
    with pytest.raises(SurrogateError, match="hedge_pick needs a fit with combine='hedge' and proposals of its"):
        h.hedge_pick({"rf": X[:1]}, seed=0)
    for bad in (X[:2], X[:1, :2], torch.full_like(X[:1], math.nan)):
        with pytest.raises(SurrogateError, match=f"'gp''s proposal must be one finite point of {X.shape[1]} inputs"):
            h.hedge_pick({"gp": bad, "ibnn": X[:1]}, seed=0)


@pytest.mark.parametrize(
    "kwargs", [{"q": 2}, {"acquisition": "paper"}, {"acquisition": "mc"}], ids=["q2", "paper", "mc"]
)
def test_hedge_is_refused_where_its_reward_is_undefined(kwargs):
    with pytest.raises(ConfigError, match="combine='hedge' draws one candidate's proposal"):
        Optimizer(
            torch.tensor([[0.0, 0.0], [1.0, 1.0]]), surrogate="auto", surrogate_settings={"combine": "hedge"}, **kwargs
        )
    with pytest.raises(ConfigError, match="combine='hedge'"):
        Optimizer(
            torch.tensor([[0.0], [1.0]]), num_objectives=2, surrogate="auto", surrogate_settings={"combine": "hedge"}
        )


@pytest.mark.parametrize("eta", [0, -1.0, math.inf, True, "1"])
def test_bad_eta(eta):
    with pytest.raises(ConfigError, match="hedge_eta"):
        get_surrogate("auto", combine="hedge", hedge_eta=eta)


def test_bo_end_to_end_and_a_checkpoint_continues_it(tmp_path):
    problem = get_problem("branin")

    def run(opt, k):
        for _ in range(k):
            X = opt.ask()
            opt.tell(X, problem.evaluate(X))

    settings = {"combine": "hedge"}
    whole = Optimizer.for_problem(problem, "auto", seed=2, n_init=6, surrogate_settings=settings)
    run(whole, 10)
    half = Optimizer.for_problem(problem, "auto", seed=2, n_init=6, surrogate_settings=settings)
    run(half, 8)
    half.save(tmp_path / "ckpt")
    resumed = Optimizer.load(tmp_path / "ckpt")
    run(resumed, 2)
    # the proposals and gains travel in the state: the same points, gains and probabilities
    torch.testing.assert_close(resumed.X, whole.X)
    assert resumed.history[-1].diagnostics["hedge"] == whole.history[-1].diagnostics["hedge"]
    # saved between an ask and its tell
    mid = Optimizer.for_problem(problem, "auto", seed=2, n_init=6, surrogate_settings=settings)
    run(mid, 8)
    x = mid.ask()
    mid.save(tmp_path / "pending")
    again = Optimizer.load(tmp_path / "pending")
    again.tell(x, problem.evaluate(x))
    run(again, 1)
    torch.testing.assert_close(again.X, whole.X)
    assert again.history[-1].diagnostics["hedge"] == whole.history[-1].diagnostics["hedge"]
    diags = [e.diagnostics for e in whole.history if not e.initial]
    assert len(diags) == 4
    for d in diags:
        assert d["served"] in ("gp", "ibnn") and d["choice"] in ("gp", "ibnn")
        assert sum(d["hedge"]["probabilities"].values()) == pytest.approx(1.0)
    assert set(diags[-1]["hedge"]["gains"]) == {"gp", "ibnn"}  # every proposal was rewarded
    r = optimize("branin", "auto", budget=8, q=1, n_init=6, seed=1, surrogate_settings=settings)
    assert r.X.shape[0] == 8 and all("served" in d for d in r.diagnostics)


def test_the_report_counts_the_proposal_taken(monkeypatch):
    import pandas as pd

    from bnnbo.report import diagnostics

    diags = [
        {"choice": "gp", "served": "ibnn", "hedge": {"gains": {}}, "scores": {"gp": -1.0, "ibnn": -2.0}},
        {"choice": "gp", "served": "gp", "hedge": {"gains": {}}, "scores": {"gp": -1.0, "ibnn": -2.0}},
        {"choice": "gp", "served": "ibnn", "hedge": {"gains": {}}, "scores": {"gp": -1.0, "ibnn": -2.0}},
        {"choice": "ibnn", "served": "mix", "weights": {}, "scores": {}},  # a mixture: its choice counts
    ]
    frame = pd.DataFrame({"problem": ["p"] * 4, "surrogate": ["auto"] * 4, "diagnostics": diags})
    monkeypatch.setattr(diagnostics, "iterations", lambda data: frame)
    table = diagnostics.auto_choices(None).data.set_index("candidate")
    assert table.chosen.to_dict() == {"gp": 1, "ibnn": 3}


def test_the_dashboard_shows_the_proposal_taken():
    import pandas as pd

    from bnnbo.dashboard.data import _iteration_rows

    diags = [
        {"choice": "gp", "served": "ibnn", "hedge": {"gains": {"gp": 0.0}}, "scores": {"gp": -1.0}},
        {"choice": "gp", "scores": {"gp": -1.0}},
    ]
    its = pd.DataFrame(
        {"diagnostics": diags, "batch": [1, 2], "index": [10, 11], "fit_seconds": [0.1, 0.1], "acq_seconds": [0.2, 0.2]}
    )
    assert _iteration_rows(its)["choice"] == ["ibnn", "gp"]


def test_used_candidate_in_flattened_diagnostics():
    from bnnbo.report.diagnostics import flatten, used_candidate

    X, Y = toy_data(n=8)
    a = get_surrogate("auto", combine="hedge")
    a.fit(X, Y, seed=0)  # the first fit: no gains yet
    a.diagnostics_["served"] = "ibnn"
    assert used_candidate(flatten(a.diagnostics_)) == used_candidate(a.diagnostics_) == "ibnn"
    assert used_candidate(flatten({"choice": "gp", "served": "mix", "weights": {"gp": 1.0}})) == "gp"
    assert used_candidate({"acceptance": 0.5}) is None
