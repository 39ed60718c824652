import pytest
import torch
from gpytorch.kernels import MaternKernel

from bnnbo import ConfigError, SurrogateError, UnknownNameError, get_surrogate, optimize
from bnnbo.assess import score
from bnnbo.surrogates.base import Surrogate
from bnnbo.testing.conformance import check_surrogate, toy_data


def test_conformance():
    check_surrogate(lambda: get_surrogate("auto"))


def _matern_draw(n_train, n_test, seed):
    """A 1-D draw from a Matern-5/2 GP with lengthscale 0.05: the Matern GP is the right model."""
    g = torch.Generator().manual_seed(seed)
    X = torch.rand(n_train + n_test, 1, generator=g, dtype=torch.float64)
    kernel = MaternKernel(nu=2.5).double()
    kernel.lengthscale = 0.05
    K = kernel(X).to_dense().detach() + 1e-8 * torch.eye(len(X), dtype=torch.float64)
    Y = torch.linalg.cholesky(K) @ torch.randn(len(X), 1, generator=g, dtype=torch.float64)
    return X[:n_train], Y[:n_train], X[n_train:], Y[n_train:]


@pytest.mark.parametrize("holdout", ["recent", "kfold"])
@pytest.mark.parametrize("seed", [0, 1])
def test_chooses_the_clearly_better_candidate(holdout, seed):
    X, Y, Xt, Yt = _matern_draw(40, 300, seed)
    nll = {c: sum(score(get_surrogate(c).fit(X, Y), Xt, Yt, Y)["nll"]) for c in ("gp", "ibnn")}
    assert nll["gp"] < nll["ibnn"] - 1.0, f"setup: the GP should be clearly better, got {nll}"
    auto = get_surrogate("auto", candidates=["ibnn", "gp"], holdout=holdout)
    auto.fit(X, Y, seed=seed)
    assert auto.diagnostics_["choice"] == "gp"
    scores = auto.diagnostics_["scores"]
    assert scores["gp"] > scores["ibnn"]


def test_rescores_every_k_fits_and_carries_state():
    auto = get_surrogate("auto", holdout="recent", every=3)
    X, Y = toy_data(n=20)
    state, scored = None, []
    for k in range(5):
        auto.fit(X[: 12 + k], Y[: 12 + k], seed=k, state=state)
        state = auto.state_
        scored.append(auto.diagnostics_["scored"])
        assert auto.diagnostics_["choice"] in ("gp", "ibnn")
    assert scored == [True, False, False, True, False]
    assert state["fits"] == 5


def test_holdout_splits():
    auto = get_surrogate("auto", holdout_fraction=0.25)
    ((train, test),) = auto.splits(20, seed=0)
    assert test.tolist() == list(range(15, 20)) and train.tolist() == list(range(15))
    kfold = get_surrogate("auto", holdout="kfold", folds=4)
    splits = kfold.splits(10, seed=0)
    assert len(splits) == 4
    assert sorted(torch.cat([t for _, t in splits]).tolist()) == list(range(10))
    for train, test in splits:
        assert not set(train.tolist()) & set(test.tolist())


class Broken(Surrogate):
    name = "broken"

    def _fit(self, X, Y, *, seed, state):
        raise SurrogateError("diverged")


def test_failing_candidate_is_recorded_not_fatal():
    auto = get_surrogate("auto")
    auto.members["ibnn"] = Broken()
    X, Y = toy_data()
    auto.fit(X, Y)
    assert auto.diagnostics_["choice"] == "gp"
    assert auto.diagnostics_["scores"]["ibnn"] is None
    assert "diverged" in auto.diagnostics_["errors"]["ibnn"]
    auto.members["gp"] = Broken()
    with pytest.raises(SurrogateError, match="every candidate failed"):
        auto.fit(X, Y)


@pytest.mark.parametrize(
    "kwargs, err, msg",
    [
        ({"candidates": []}, ConfigError, "at least one surrogate"),
        ({"candidates": ["gp", "auto"]}, ConfigError, "cannot include 'auto'"),
        ({"candidates": ["gp", "gpx"]}, UnknownNameError, "auto: candidate 'gpx': unknown surrogate 'gpx'"),
        ({"candidate_settings": {"dkl": {}}}, ConfigError, r"candidate_settings for \['dkl'\]"),
        ({"every": 0}, ConfigError, "every >= 1"),
        ({"holdout": "last"}, ConfigError, "expected 'recent' or 'kfold' or 'prequential'"),
        ({"forget": 0.0}, ConfigError, r"forget must be in \(0, 1\], got 0.0"),
        ({"holdout_fraction": 1.5}, ConfigError, r"holdout_fraction must be in \(0, 1\), got 1.5"),
        ({"min_evidence": -1}, ConfigError, "min_evidence must be an integer >= 0, got -1"),
        ({"refresh": 0}, ConfigError, "refresh must be an integer >= 1, got 0"),
        ({"refresh": 2, "holdout": "recent"}, ConfigError, "refresh=2 needs holdout='prequential'"),
        ({"refresh": 3, "combine": "mix"}, ConfigError, "refresh=3 needs .* combine='choose'"),
        ({"min_evidence": 5, "holdout": "kfold"}, ConfigError, "min_evidence=5 needs holdout='prequential'"),
        ({"min_evidence": 5, "combine": "mix"}, ConfigError, "min_evidence=5 needs .* combine='choose'"),
        ({"min_evidence": True}, ConfigError, "'min_evidence' = True; expected an integer"),
        ({"candidate_settings": {"gp": 5}}, ConfigError, "candidate_settings must map candidate labels to tables"),
        ({"candidate_settings": ["gp"]}, ConfigError, "candidate_settings must map .* got \\['gp'\\]"),
        ({"candidate_settings": {"gp": ["priors"]}}, ConfigError, "candidate_settings must map"),
    ],
)
def test_bad_settings(kwargs, err, msg):
    with pytest.raises(err, match=msg):
        get_surrogate("auto", **kwargs)


def test_labels_allow_two_configurations_of_one_surrogate():
    auto = get_surrogate("auto", candidates=["gp", "gp/paper"], candidate_settings={"gp/paper": {"priors": "paper"}})
    assert auto.members["gp/paper"].settings.priors == "paper"
    X, Y = toy_data()
    auto.fit(X, Y)
    assert set(auto.diagnostics_["scores"]) == {"gp", "gp/paper"}


@pytest.mark.parametrize("problem", ["branin", "branincurrin"])
def test_bo_end_to_end_records_choices(problem):
    r = optimize(problem, "auto", budget=10, q=2, n_init=6, seed=1)
    assert r.X.shape[0] == 10 and torch.isfinite(r.Y).all()
    assert len(r.diagnostics) == 2
    for d in r.diagnostics:
        assert d["choice"] in ("gp", "ibnn") and set(d["scores"]) == {"gp", "ibnn"}


def _counting(auto):
    """Wrap every member's fit to count calls per label."""
    calls = {label: 0 for label in auto.members}
    for label, sur in auto.members.items():
        fit = sur.fit

        def counted(*args, _label=label, _fit=fit, **kwargs):
            calls[_label] += 1
            return _fit(*args, **kwargs)

        sur.fit = counted
    return calls


@pytest.mark.parametrize("forget, metric", [(1.0, "lpd"), (0.5, "lpd"), (0.5, "crps"), (1.0, "mse")])
def test_prequential_scores_are_the_new_points_scores(forget, metric):
    X, Y = toy_data(n=20)
    auto = get_surrogate("auto", holdout="prequential", forget=forget, metric=metric)
    calls = _counting(auto)
    auto.fit(X[:12], Y[:12], seed=0)
    seeded = {c: auto.state_["totals"][c][0] for c in ("gp", "ibnn")}
    assert calls == {"gp": 2, "ibnn": 2}  # the "recent" seeding once, then the fit on all points
    assert auto.diagnostics_["new_points"] == 0
    models = dict(auto._last[2])
    auto.fit(X[:15], Y[:15], seed=1, state=auto.state_)
    assert calls == {"gp": 3, "ibnn": 3}  # one fit per candidate per iteration from then on
    assert auto.diagnostics_["new_points"] == 3
    weight = 1 + forget + forget**2
    for c in ("gp", "ibnn"):
        sc = score(models[c], X[12:15], Y[12:15], Y[:12])
        per_point = {"lpd": -sc["nll"][0], "crps": -sc["crps"][0], "mse": -(sc["rmse"][0] ** 2)}[metric]
        want_sum = forget**3 * seeded[c] + per_point * weight
        want_w = forget**3 + weight
        got_sum, got_w = auto.state_["totals"][c]
        assert got_sum == pytest.approx(want_sum, rel=1e-12) and got_w == pytest.approx(want_w, rel=1e-12)
        assert auto.diagnostics_["scores"][c] == pytest.approx(want_sum / want_w, rel=1e-12)
    best = max(("gp", "ibnn"), key=lambda c: auto.diagnostics_["scores"][c])
    assert auto.diagnostics_["choice"] == best


def test_prequential_picks_the_model_that_predicts_where_bo_goes():
    X, Y, Xt, Yt = _matern_draw(60, 0, 0)
    auto = get_surrogate("auto", candidates=["ibnn", "gp"], holdout="prequential")
    state = None
    for n in range(20, 61, 4):
        auto.fit(X[:n], Y[:n], seed=n, state=state)
        state = auto.state_
    assert auto.diagnostics_["choice"] == "gp"
    assert state["totals"]["gp"][1] == pytest.approx(1 + 40)  # the seed, then 40 predicted points


def test_min_evidence_keeps_the_first_candidate_until_enough_points_were_predicted():
    """On the Matern draw the GP predicts better; listed second, it serves only once the candidates
    have predicted ``min_evidence`` points BO acquired (the first candidate before that)."""
    X, Y, _, _ = _matern_draw(60, 0, 0)
    plain = get_surrogate("auto", candidates=["ibnn", "gp"])
    plain.fit(X[:20], Y[:20], seed=20)
    assert plain.diagnostics_["choice"] == "gp"  # without it: the GP from the first fit on
    auto = get_surrogate("auto", candidates=["ibnn", "gp"], min_evidence=12)
    state, choices = None, []
    for n in range(20, 41, 4):
        auto.fit(X[:n], Y[:n], seed=n, state=state)
        state = auto.state_
        choices.append((auto.state_["predicted"], auto.diagnostics_["choice"]))
    assert choices == [(0, "ibnn"), (4, "ibnn"), (8, "ibnn"), (12, "gp"), (16, "gp"), (20, "gp")]
    assert auto.diagnostics_["scores"]["gp"] > auto.diagnostics_["scores"]["ibnn"]


def test_prequential_resume_and_unrelated_data_do_not_invent_scores():
    X, Y = toy_data(n=20)
    auto = get_surrogate("auto", holdout="prequential")
    auto.fit(X[:12], Y[:12], seed=0)
    auto.fit(X[:14], Y[:14], seed=1, state=auto.state_)
    state = auto.state_
    # a new process: the models are gone, so the next fit keeps the accumulated scores
    fresh = get_surrogate("auto", holdout="prequential")
    calls = _counting(fresh)
    fresh.fit(X[:16], Y[:16], seed=2, state=state)
    assert calls == {"gp": 1, "ibnn": 1}
    assert fresh.state_["totals"] == state["totals"] and fresh.diagnostics_["new_points"] == 0
    # data that do not extend the last fit's (another run's points) are not scored either
    fresh.fit(X[4:20], Y[4:20], seed=3, state=fresh.state_)
    assert fresh.state_["totals"] == state["totals"]


def test_crps_of_a_gaussian_matches_its_integral():
    """CRPS = integral of (F(t) - 1{t >= y})^2 dt, checked by quadrature for a few z."""
    from bnnbo.surrogates.scoring import gaussian_scores

    mean = torch.tensor([[0.3], [0.3], [-1.0]], dtype=torch.float64)
    var = torch.tensor([[0.25], [0.25], [4.0]], dtype=torch.float64)
    y = torch.tensor([[0.3], [2.0], [0.5]], dtype=torch.float64)
    t = torch.linspace(-30, 30, 600001, dtype=torch.float64)
    want = []
    for mu, v, obs in zip(mean[:, 0], var[:, 0], y[:, 0]):
        F = torch.special.ndtr((t - mu) / v.sqrt())
        want.append(torch.trapezoid((F - (t >= obs).double()) ** 2, t).item())
    for i in range(3):
        got = gaussian_scores(mean[i : i + 1], var[i : i + 1], y[i : i + 1], torch.zeros(1), torch.ones(1))["crps"][0]
        assert got == pytest.approx(want[i], rel=1e-4)  # the quadrature step at the jump


@pytest.mark.parametrize("name, m", [("gp", 1), ("ibnn", 1), ("gp", 2), ("ibnn", 2)])
def test_plain_gp_predictions_are_gpytorchs(name, m):
    """scoring.predict's plain algebra for exact GPs gives the posterior's marginals with noise."""
    from bnnbo.surrogates.scoring import _plain_gps, predict

    X, Y = toy_data(n=25, m=m)
    model = get_surrogate(name).fit(X[:20], Y[:20], seed=0)
    assert _plain_gps(model) is not None  # the fast path is the one under test
    mean, var = predict(model, X[20:])
    with torch.no_grad():
        post = model.posterior(X[20:].unsqueeze(-2), observation_noise=True)
        want_mean, want_var = post.mean.squeeze(-2), post.variance.squeeze(-2)
    assert mean.shape == var.shape == (5, m)
    assert torch.allclose(mean, want_mean, rtol=1e-7, atol=1e-9 * want_var.sqrt().max().item())
    assert torch.allclose(var, want_var, rtol=1e-6)


def test_prequential_records_each_candidates_fit_time():
    X, Y = toy_data(n=16)
    auto = get_surrogate("auto")
    auto.fit(X[:12], Y[:12], seed=0)
    auto.fit(X[:13], Y[:13], seed=1, state=auto.state_)
    d = auto.diagnostics_
    assert set(d["seconds"]) == {"gp", "ibnn"} and min(d["seconds"].values()) > 0
    assert d["scoring_seconds"] > 0


def test_refresh_refits_the_candidates_that_do_not_serve_every_k_fits():
    """On the Matern draw the GP serves from the first fit: it is refitted at every fit, the
    I-BNN at the first and then every third, predicting the points in between with its last
    model; with refresh=1 every candidate is refitted every time (the default)."""
    X, Y, _, _ = _matern_draw(44, 0, 0)
    for refresh, ibnn_fits in ((3, [2, 0, 0, 1, 0, 0, 1]), (1, [2] + [1] * 6)):
        auto = get_surrogate("auto", candidates=["ibnn", "gp"], refresh=refresh)
        calls, state, seen = _counting(auto), None, []
        for n in range(20, 45, 4):
            before = dict(calls)
            auto.fit(X[:n], Y[:n], seed=n, state=state)
            state = auto.state_
            seen.append((auto.diagnostics_["choice"], calls["gp"] - before["gp"], calls["ibnn"] - before["ibnn"]))
            assert auto.diagnostics_["refit"] == [c for c in ("ibnn", "gp") if calls[c] > before[c]]
            assert set(auto.diagnostics_["seconds"]) == set(auto.diagnostics_["refit"])
        # (the first fit's seeding hold-out fits each candidate once more)
        assert [s[0] for s in seen] == ["gp"] * 7 and [s[1] for s in seen] == [2] + [1] * 6
        assert [s[2] for s in seen] == ibnn_fits
        # the stale I-BNN still predicts every new point: its score counts them all
        assert state["totals"]["ibnn"][1] == pytest.approx(1 + 24)


def test_refresh_refits_a_stale_candidate_before_it_serves():
    """When the candidate in the lead fails to fit, the next one serves, refitted on all the
    data rather than with a model from an earlier fit."""
    X, Y, _, _ = _matern_draw(28, 0, 0)
    auto = get_surrogate("auto", candidates=["ibnn", "gp"], refresh=5)
    auto.fit(X[:20], Y[:20], seed=0)
    auto.fit(X[:24], Y[:24], seed=1, state=auto.state_)
    assert auto.diagnostics_["choice"] == "gp" and auto.diagnostics_["refit"] == ["gp"]
    auto.members["gp"] = Broken()
    auto.fit(X[:28], Y[:28], seed=2, state=auto.state_)
    d = auto.diagnostics_
    assert d["choice"] == "ibnn" and d["refit"] == ["ibnn", "gp"] and "diverged" in d["errors"]["gp"]
    assert auto.state_["refit_at"]["ibnn"] == 2


def test_bookkeeping_follows_the_models_in_memory_when_the_caller_keeps_an_older_state():
    """An Optimizer keeps auto's state only when the points told are the points it asked; the
    next fit still extends the models in memory, so their scores, fit counts and refit times
    must advance with them: a candidate that does not serve is refitted every ``refresh`` fits
    and ``min_evidence`` is reached, whatever state the caller passes."""
    X, Y, _, _ = _matern_draw(44, 0, 0)
    auto = get_surrogate("auto", candidates=["ibnn", "gp"], refresh=3, min_evidence=8)
    calls = _counting(auto)
    auto.fit(X[:20], Y[:20], seed=0)
    kept = auto.state_  # the caller never takes a newer state
    seen = []
    for n in range(24, 45, 4):
        before = calls["ibnn"]
        auto.fit(X[:n], Y[:n], seed=n, state=kept)
        seen.append((auto.state_["predicted"], auto.diagnostics_["choice"], calls["ibnn"] - before))
    assert [s[0] for s in seen] == [4, 8, 12, 16, 20, 24]
    assert [s[1] for s in seen] == ["ibnn", "gp", "gp", "gp", "gp", "gp"]  # forced until 8 points
    assert [s[2] for s in seen] == [1, 0, 0, 1, 0, 0]  # the serving ibnn, then every third fit
    assert auto.state_["fits"] == 7 and auto.state_["totals"]["gp"][1] == pytest.approx(1 + 24)


@pytest.mark.parametrize("holdout", ["prequential", "recent", "kfold"])
def test_too_few_points_to_hold_out_serve_the_first_candidate(holdout):
    """2 points (an Optimizer's smallest initial design) leave nothing to hold out: the first
    candidate serves unscored, and scoring starts once there are enough points."""
    X, Y = toy_data(n=12)
    auto = get_surrogate("auto", candidates=["ibnn", "gp"], holdout=holdout)
    auto.fit(X[:2], Y[:2], seed=0)
    assert auto.diagnostics_["choice"] == "ibnn"
    assert auto.diagnostics_["scored"] is (holdout == "prequential")  # prequential: nothing scored yet
    assert all(v is None for v in auto.diagnostics_["scores"].values()) or not auto.diagnostics_["scores"]
    auto.fit(X[:3], Y[:3], seed=1, state=auto.state_)
    if holdout == "prequential":  # the first fit's models predicted the third point
        assert auto.diagnostics_["new_points"] == 1 and None not in auto.diagnostics_["scores"].values()
    auto.fit(X[:12], Y[:12], seed=2, state=auto.state_)
    assert auto.diagnostics_["scored"] and set(auto.diagnostics_["scores"]) == {"ibnn", "gp"}


def _flaky(sur, fails):
    """Make ``sur.fit`` raise on data of the sizes in ``fails``."""
    fit = sur.fit

    def flaky(X, Y, **kwargs):
        if X.shape[0] in fails:
            raise SurrogateError("diverged")
        return fit(X, Y, **kwargs)

    sur.fit = flaky


def test_a_fit_repeated_on_the_same_data_is_the_same_fit():
    """An Optimizer asked twice without a tell fits twice on the same data and the same older
    state: the second fit must be the first one again, not one that drops the points the first
    scored (they would never be scored, and the choice could flip)."""
    X, Y = toy_data(n=20)
    auto = get_surrogate("auto")
    auto.fit(X[:12], Y[:12], seed=0)
    kept = auto.state_
    auto.fit(X[:15], Y[:15], seed=1, state=kept)
    first = (auto.state_["totals"], auto.state_["predicted"], auto.state_["fits"], auto.diagnostics_["scores"])
    auto.fit(X[:15], Y[:15], seed=1, state=kept)
    again = (auto.state_["totals"], auto.state_["predicted"], auto.state_["fits"], auto.diagnostics_["scores"])
    assert again == first and first[1] == 3
    auto.fit(X[:16], Y[:16], seed=2, state=kept)
    plain = get_surrogate("auto")
    plain.fit(X[:12], Y[:12], seed=0)
    plain.fit(X[:15], Y[:15], seed=1, state=plain.state_)
    plain.fit(X[:16], Y[:16], seed=2, state=plain.state_)
    assert auto.state_["totals"] == plain.state_["totals"] and auto.state_["predicted"] == 4


def test_an_optimizer_asked_twice_asks_what_it_asked():
    from bnnbo import Optimizer
    from bnnbo.problems import get_problem

    problem = get_problem("branin")

    def run(repeat):
        opt = Optimizer.for_problem(problem, "auto", seed=3, n_init=6)
        asked = []
        while opt.n_told < 9:
            X = opt.ask()
            if repeat and opt.n_told >= 6:
                again = opt.ask()
                assert torch.equal(again, X)
            asked.append(X)
            opt.tell(X, problem.evaluate(X))
        return asked, opt.surrogate.state_["totals"]

    plain, twice = run(False), run(True)
    assert all(torch.equal(a, b) for a, b in zip(plain[0], twice[0])) and plain[1] == twice[1]


@pytest.mark.parametrize("holdout", ["recent", "kfold"])
def test_the_next_best_candidate_serves_when_the_winners_full_fit_fails(holdout):
    X, Y = toy_data(n=20)
    auto = get_surrogate("auto", holdout=holdout)
    _flaky(auto.members["gp"], {20})  # gp scores on the held-out splits, then fails on all the data
    auto.fit(X, Y, seed=0)
    d = auto.diagnostics_
    assert d["scores"]["gp"] > d["scores"]["ibnn"]  # gp won the scoring
    assert d["choice"] == "ibnn" and "diverged" in d["errors"]["gp"]
    auto.members["ibnn"] = Broken()
    with pytest.raises(SurrogateError, match="no candidate fitted all the data"):
        auto.fit(X, Y, seed=0)


def test_a_choice_made_on_too_few_points_is_scored_when_there_are_enough():
    X, Y = toy_data(n=14)
    auto = get_surrogate("auto", holdout="recent", every=3, candidates=["ibnn", "gp"])
    auto.fit(X[:2], Y[:2], seed=0)
    assert not auto.diagnostics_["scored"] and auto.state_["unscored"]
    auto.fit(X[:12], Y[:12], seed=1, state=auto.state_)
    assert auto.diagnostics_["scored"] and set(auto.diagnostics_["scores"]) == {"ibnn", "gp"}
    assert "unscored" not in auto.state_
    auto.fit(X[:13], Y[:13], seed=2, state=auto.state_)  # then every third fit, as set
    assert not auto.diagnostics_["scored"]
