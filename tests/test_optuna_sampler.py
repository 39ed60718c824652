"""BnnboSampler against real Optuna: convergence, mixed spaces, failures, seeds, resume."""

import math
import os
import runpy
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

optuna = pytest.importorskip("optuna", minversion="5")

from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import TrialState

from bnnbo.errors import ConfigError, UnknownNameError
from bnnbo.integrations.optuna import BnnboSampler, _Column, _finite_values

optuna.logging.set_verbosity(optuna.logging.WARNING)
ROOT = Path(__file__).resolve().parents[1]


def quadratic(trial):
    x = trial.suggest_float("x", -5.0, 5.0)
    y = trial.suggest_float("y", -5.0, 5.0)
    return (x - 1.0) ** 2 + (y + 2.0) ** 2


def relative_trials(study, n_startup):
    return [t for t in study.trials if t.state == TrialState.COMPLETE][n_startup:]


# ---- the distribution map -------------------------------------------------------------------
@pytest.mark.parametrize(
    "dist, values",
    [
        (FloatDistribution(-2.0, 3.0), [-2.0, 0.37, 3.0]),
        (FloatDistribution(1e-4, 1.0, log=True), [1e-4, 0.0123, 1.0]),
        (FloatDistribution(0.0, 1.0, step=0.25), [0.0, 0.25, 0.75, 1.0]),
        (IntDistribution(-3, 7), [-3, 0, 7]),
        (IntDistribution(0, 9, step=3), [0, 3, 9]),
        (IntDistribution(1, 1024, log=True), [1, 17, 1024]),
        (CategoricalDistribution(["a", None, 2.5, True]), ["a", None, 2.5, True]),
    ],
)
def test_each_distribution_round_trips_through_its_column(dist, values):
    col = _Column.of("p", dist)
    for v in values:
        x = col.encode(v)
        assert col.parameter is not None
        back = col.decode(x)
        assert back == v and type(back) is type(v)
        assert dist._contains(dist.to_internal_repr(back))


def test_decoded_values_are_always_valid_for_optuna():
    # any column value the acquisition optimiser may return maps into the distribution
    for dist in (
        FloatDistribution(0.0, 0.9, step=0.3),
        IntDistribution(2, 11, step=3),
        IntDistribution(1, 50, log=True),
        FloatDistribution(1e-3, 1.0, log=True),
    ):
        col = _Column.of("p", dist)
        lo, hi = col.parameter.low, col.parameter.high
        for i in range(41):
            v = col.decode(lo + (hi - lo) * i / 40)
            assert dist._contains(dist.to_internal_repr(v)), (dist, v)


def test_infinite_values_are_clipped_and_an_all_infinite_objective_is_not_modelled():
    study = optuna.create_study()
    for v in (1.0, float("inf"), -2.0, float("-inf")):
        study.add_trial(optuna.create_trial(params={"x": 0.5}, distributions={"x": FloatDistribution(0, 1)}, value=v))
    Y = _finite_values(study.trials)
    assert Y[:, 0].tolist() == [1.0, 1.0, -2.0, -2.0]
    only_inf = optuna.create_study()
    only_inf.add_trial(
        optuna.create_trial(params={"x": 0.5}, distributions={"x": FloatDistribution(0, 1)}, value=float("inf"))
    )
    assert _finite_values(only_inf.trials) is None


@pytest.mark.parametrize(
    "kwargs, error",
    [
        ({"surrogate": "nope"}, UnknownNameError),
        ({"acquisition": "greedy"}, UnknownNameError),
        ({"n_startup_trials": -1}, ConfigError),
        ({"seed": -3}, ConfigError),
        ({"seed": 1.5}, ConfigError),
        ({"ref_point": [0.0, float("nan")]}, ConfigError),
        ({"independent_sampler": "random"}, ConfigError),
        ({"surrogate_settings": {"no_such_setting": 1}}, UnknownNameError),
        ({"acq_optimizer": "fastest"}, UnknownNameError),
    ],
)
def test_bad_arguments_raise_one_clear_error_at_construction(kwargs, error):
    with pytest.raises(error):
        BnnboSampler(**kwargs)


# ---- studies -------------------------------------------------------------------------------
def test_minimising_a_quadratic_converges():
    sampler = BnnboSampler(seed=0, n_startup_trials=5)
    study = optuna.create_study(sampler=sampler)
    study.optimize(quadratic, n_trials=12)
    startup_best = min(t.value for t in study.trials[:5])
    assert sampler.last_timings is not None and sampler.last_timings["fit_seconds"] > 0
    assert study.best_value < 0.3 < startup_best
    assert abs(study.best_params["x"] - 1.0) < 0.5 and abs(study.best_params["y"] + 2.0) < 0.5


def test_maximising_the_negated_quadratic_converges_to_the_same_point():
    study = optuna.create_study(direction="maximize", sampler=BnnboSampler(seed=0, n_startup_trials=5))
    study.optimize(lambda t: -quadratic(t), n_trials=12)
    assert study.best_value > -0.3
    # model-based trials go uphill: most are better than the startup median
    startup = sorted(t.value for t in study.trials[:5])
    later = [t.value for t in relative_trials(study, 5)]
    assert sum(v > startup[2] for v in later) >= 0.7 * len(later)


def mixed(trial):
    lr = trial.suggest_float("lr", 1e-4, 1.0, log=True)
    width = trial.suggest_int("width", 1, 256, log=True)
    layers = trial.suggest_int("layers", 1, 9, step=2)
    frac = trial.suggest_float("frac", 0.0, 1.0, step=0.1)
    act = trial.suggest_categorical("act", ["relu", "tanh", "gelu"])
    loss = (math.log10(lr) + 2.0) ** 2 + (math.log2(width) - 5.0) ** 2 / 4 + (layers - 5) ** 2 / 4
    return loss + (frac - 0.3) ** 2 + {"relu": 0.5, "tanh": 0.0, "gelu": 0.8}[act]


def test_a_mixed_space_gets_valid_model_based_values_that_improve():
    sampler = BnnboSampler(seed=3, n_startup_trials=6)
    study = optuna.create_study(sampler=sampler)
    study.optimize(mixed, n_trials=11)
    rel = relative_trials(study, 6)
    assert len(rel) == 5 and sampler.last_timings is not None
    for t in study.trials:  # Optuna stores only values its distributions contain; check the types too
        assert isinstance(t.params["width"], int) and isinstance(t.params["layers"], int)
        assert t.params["layers"] in (1, 3, 5, 7, 9) and t.params["act"] in ("relu", "tanh", "gelu")
        assert round(t.params["frac"] * 10) == pytest.approx(t.params["frac"] * 10)
    assert min(t.value for t in rel) < min(t.value for t in study.trials[:6])


def test_failed_and_pruned_trials_are_ignored():
    sampler = BnnboSampler(seed=1, n_startup_trials=4)
    study = optuna.create_study(sampler=sampler)

    def objective(trial):
        value = quadratic(trial)
        if trial.number in (2, 6):
            raise RuntimeError("simulated crash")
        if trial.number == 7:
            raise optuna.TrialPruned()
        return value

    model_based = []
    study.optimize(
        objective,
        n_trials=10,
        catch=(RuntimeError,),
        callbacks=[lambda s, t: model_based.append(sampler.last_timings is not None)],
    )
    states = [t.state for t in study.trials]
    assert states.count(TrialState.FAIL) == 2 and states.count(TrialState.PRUNED) == 1
    # startup counts completed trials only: 0, 1, 3, 4 are random, 5 is the first model-based one
    assert model_based == [False] * 5 + [True] * 5
    assert study.best_value < min(t.value for t in study.trials[:5] if t.value is not None)


def test_a_seeded_study_is_reproducible_and_another_seed_differs():
    def run(seed):
        study = optuna.create_study(sampler=BnnboSampler(seed=seed, n_startup_trials=4))
        study.optimize(quadratic, n_trials=6)
        return [t.params for t in study.trials]

    first = run(5)
    assert first == run(5)
    assert first != run(6)


def test_parameters_outside_the_relative_space_go_to_the_independent_sampler():
    calls = []

    class Recording(optuna.samplers.RandomSampler):
        def sample_independent(self, study, trial, name, dist):
            calls.append((trial.number, name))
            return super().sample_independent(study, trial, name, dist)

    study = optuna.create_study(
        sampler=BnnboSampler(
            seed=0, n_startup_trials=3, independent_sampler=Recording(seed=0), warn_independent_sampling=False
        )
    )

    def objective(trial):
        value = quadratic(trial)
        if trial.number >= 3:  # a parameter the completed trials do not all have
            value += trial.suggest_float(f"extra{trial.number}", 0.0, 1.0)
        return value

    study.optimize(objective, n_trials=6)
    model_based = {(n, p) for n, p in calls if n >= 3}
    assert model_based == {(3, "extra3"), (4, "extra4"), (5, "extra5")}  # x, y came from the model


def test_a_multi_objective_study_moves_towards_the_pareto_set():
    # f1 = |p - (0, 0)|^2 (minimise), f2 = -|p - (1, 0)|^2 (maximise): the Pareto set is y = 0,
    # 0 <= x <= 1; a sign error on either objective sends proposals away from it
    def objective(trial):
        x, y = trial.suggest_float("x", -2.0, 2.0), trial.suggest_float("y", -2.0, 2.0)
        return x**2 + y**2, -((x - 1.0) ** 2 + y**2)

    sampler = BnnboSampler(seed=0, n_startup_trials=5)
    study = optuna.create_study(directions=["minimize", "maximize"], sampler=sampler)
    study.optimize(objective, n_trials=9)
    start = sorted(abs(t.params["y"]) for t in study.trials[:5])
    later = sorted(abs(t.params["y"]) for t in relative_trials(study, 5))
    assert sampler.last_timings is not None
    assert later[1] < start[2], (start, later)  # the model-based median is below the startup one

    given = BnnboSampler(seed=0, n_startup_trials=5, ref_point=[10.0, -10.0])
    study = optuna.create_study(directions=["minimize", "maximize"], sampler=given)
    study.optimize(objective, n_trials=6)
    assert given.last_timings is not None


def test_a_wrong_length_reference_point_is_reported_when_first_used():
    study = optuna.create_study(
        directions=["minimize", "minimize"], sampler=BnnboSampler(seed=0, n_startup_trials=2, ref_point=[1.0, 2.0, 3.0])
    )
    study.optimize(lambda t: (t.suggest_float("x", 0, 1), t.suggest_float("y", 0, 1)), n_trials=2)
    with pytest.raises(ConfigError, match="3 values; the study has 2 objectives"):
        study.optimize(lambda t: (t.suggest_float("x", 0, 1), t.suggest_float("y", 0, 1)), n_trials=1)


# ---- resume from an RDB storage in another process -----------------------------------------
RESUME_SCRIPT = textwrap.dedent("""
    import sys
    import optuna
    from bnnbo.integrations.optuna import BnnboSampler

    def objective(trial):
        x = trial.suggest_float("x", -5.0, 5.0)
        k = trial.suggest_int("k", 0, 6)
        c = trial.suggest_categorical("c", ["a", "b"])
        return (x - 1.0) ** 2 + (k - 2) ** 2 + (c == "a")

    def sampler():
        return BnnboSampler(seed=11, n_startup_trials=4)

    if __name__ == "__main__":
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        study = optuna.load_study(study_name="s", storage=sys.argv[1], sampler=sampler())
        study.optimize(objective, n_trials=int(sys.argv[2]))
        print(len(study.trials))
""")


def test_a_sqlite_study_resumed_in_another_process_continues_as_an_uninterrupted_one(tmp_path):
    script = tmp_path / "resume.py"
    script.write_text(RESUME_SCRIPT)
    ns = runpy.run_path(str(script))  # the same objective and sampler in this process
    url = f"sqlite:///{tmp_path / 'study.db'}"

    first = optuna.create_study(study_name="s", storage=url, sampler=ns["sampler"]())
    first.optimize(ns["objective"], n_trials=5)  # 4 startup trials + 1 model-based one
    del first

    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    out = subprocess.run(
        [sys.executable, str(script), url, "2"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip() == "7"

    resumed = optuna.load_study(study_name="s", storage=url)
    uninterrupted = optuna.create_study(sampler=ns["sampler"]())
    uninterrupted.optimize(ns["objective"], n_trials=7)
    assert [t.params for t in resumed.trials] == [t.params for t in uninterrupted.trials]
    assert [t.value for t in resumed.trials] == [t.value for t in uninterrupted.trials]


def test_reseeding_keeps_the_seed_so_trials_stay_reproducible():
    sampler = BnnboSampler(seed=9)
    sampler.reseed_rng()  # what Optuna does with n_jobs > 1
    assert sampler.seed == 9
