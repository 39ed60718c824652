"""The report's numbers equal a direct computation from the store's rows (sqlite3, no bnnbo code
on the reading side; botorch's Hypervolume for the two-objective problem)."""

import json
import math
import sqlite3
import statistics
from collections import Counter, defaultdict

import pandas as pd
import pytest
import torch
from botorch.utils.multi_objective.hypervolume import Hypervolume
from botorch.utils.multi_objective.pareto import is_non_dominated
from report_study import FAILED, PROBLEMS, SURROGATES
from scipy.stats import rankdata

from bnnbo.problems import get_problem


def _rows(url):
    con = sqlite3.connect(url.removeprefix("sqlite:///"))
    runs = con.execute("SELECT id, problem, surrogate, seed, status FROM runs ORDER BY id").fetchall()
    evals = defaultdict(list)
    for run_id, y, initial, batch, fit, acq, diag in con.execute(
        "SELECT run_id, y, initial, batch, fit_seconds, acq_seconds, diagnostics FROM evaluations "
        "ORDER BY run_id, `index`"
    ):
        evals[run_id].append((json.loads(y), bool(initial), batch, fit, acq, json.loads(diag)))
    con.close()
    return runs, evals


def _final(problem, ys):
    if problem == "branin":
        return max(y[0] for y in ys)
    Y = torch.tensor(ys, dtype=torch.float64)
    ref = get_problem("branincurrin").ref_point
    return Hypervolume(ref).compute(Y[is_non_dominated(Y)])


def _finals(runs, evals):
    """Final value of each finished run by (problem, surrogate, seed)."""
    return {(p, s, seed): _final(p, [e[0] for e in evals[i]]) for i, p, s, seed, st in runs if st == "finished"}


def _tables(report):
    return {p.stem: pd.read_csv(p) for p in (report.parent / "tables").glob("*.csv")}


@pytest.fixture(scope="module")
def direct(study_db):
    runs, evals = _rows(study_db)
    finals = _finals(runs, evals)
    return runs, evals, finals


def _cell(df, problem, surrogate):
    (row,) = df[(df.problem == problem) & (df.surrogate == surrogate)].to_dict("records")
    return row


def test_final_best_is_mean_and_se_over_finished_runs(report, direct):
    _, _, finals = direct
    table = _tables(report)["final_best"]
    optimum = {"branin": get_problem("branin").optimal_value, "bc": get_problem("branincurrin").max_hv}
    for problem in PROBLEMS:
        for surrogate in SURROGATES:
            v = [f for (p, s, _), f in finals.items() if (p, s) == (problem, surrogate)]
            shown = [-x for x in v] if problem == "branin" else v  # Branin is a minimisation
            row = _cell(table, problem, surrogate)
            assert row["finished"] == len(v) == (2 if (problem, surrogate) == FAILED[:2] else 3)
            assert row["mean"] == pytest.approx(statistics.mean(shown), rel=1e-9)
            assert row["se"] == pytest.approx(statistics.stdev(shown) / math.sqrt(len(v)), rel=1e-9)
            regret = [math.log10(optimum[problem] - x) for x in v]
            assert row["log10_regret"] == pytest.approx(statistics.mean(regret), rel=1e-9)
    assert _cell(table, *FAILED[:2])["failed"] == 1


def _direct_ranks(runs, finals):
    """Mean rank per (problem, surrogate) over seeds; failed runs last, unfinished ones left out."""
    ranks = defaultdict(list)
    for problem in PROBLEMS:
        for seed in range(3):
            settled = [
                (s, finals.get((p, s, seed), -math.inf))
                for _, p, s, sd, st in runs
                if (p, sd) == (problem, seed) and st in ("finished", "failed")
            ]
            for (s, _), r in zip(settled, rankdata([-v for _, v in settled], method="average")):
                ranks[(problem, s)].append(r)
    return {k: statistics.mean(v) for k, v in ranks.items()}


def test_mean_ranks_per_problem_and_overall(report, direct):
    runs, _, finals = direct
    expected = _direct_ranks(runs, finals)
    table = _tables(report)["ranks"].set_index("surrogate")
    for s in SURROGATES:
        for problem in PROBLEMS:
            assert table.loc[s, problem] == pytest.approx(expected[(problem, s)])
        assert table.loc[s, "overall"] == pytest.approx(statistics.mean(expected[(p, s)] for p in PROBLEMS))
    assert list(table["overall"]) == sorted(table["overall"])  # best first


def test_median_seconds_per_model_based_iteration(report, direct):
    runs, evals, _ = direct
    table = _tables(report)["timing"]
    for problem in PROBLEMS:
        for surrogate in SURROGATES:
            fits, acqs = [], []
            for i, p, s, _, _ in runs:
                if (p, s) == (problem, surrogate):
                    first = {e[2]: e for e in reversed(evals[i]) if not e[1]}  # one per batch
                    fits += [e[3] for e in first.values()]
                    acqs += [e[4] for e in first.values()]
            row = _cell(table, problem, surrogate)
            assert row["iterations"] == len(fits)
            assert row["fit_seconds"] == pytest.approx(statistics.median(fits))
            assert row["acq_seconds"] == pytest.approx(statistics.median(acqs))


def test_diagnostics_and_auto_choices(report, direct):
    runs, evals, _ = direct
    tables = _tables(report)
    for problem in PROBLEMS:
        batches = {s: [] for s in SURROGATES}
        for i, p, s, _, _ in runs:
            if p == problem:
                batches[s] += list({e[2]: e[5] for e in evals[i] if not e[1]}.values())
        acc = [d["acceptance"] for d in batches["hmc"]]
        diag = tables["diagnostics"]
        row = diag[(diag.problem == problem) & (diag.diagnostic == "acceptance")].iloc[0]
        assert row.surrogate == "hmc" and row.iterations == len(acc)
        assert row["median"] == pytest.approx(statistics.median(acc))
        assert row["max"] == pytest.approx(max(acc))
        keys = set(diag[diag.problem == problem].diagnostic)
        assert keys == {"acceptance", "rhat_max", "ess_min", "divergences"}  # not warm_start, rhat_median
        chosen = Counter(d["choice"] for d in batches["auto"])
        auto = tables["auto_choices"]
        auto = auto[auto.problem == problem].set_index("candidate")
        assert auto.chosen.to_dict() == dict(chosen)
        scored = [d["scores"]["gp"] for d in batches["auto"] if d["scored"]]
        assert auto.loc["gp", "mean_score"] == pytest.approx(statistics.mean(scored))


def test_failed_and_status_tables(report, direct):
    runs, evals, _ = direct
    tables = _tables(report)
    failed = tables["failed"]
    (i,) = [r[0] for r in runs if r[4] == "failed"]
    assert failed[["problem", "surrogate", "seed"]].values.tolist() == [list(FAILED)]
    assert failed.evaluations[0] == len(evals[i]) and "HMC diverged" in failed.error[0]
    assert "Traceback" in failed.traceback[0]
    status = tables["status"]
    assert status.finished.sum() == sum(r[4] == "finished" for r in runs) == 17
    assert status.evaluations.sum() == sum(len(v) for v in evals.values())


def test_partial_study_counts_only_finished_runs(partial_report, partial_db):
    runs, evals = _rows(partial_db)
    tables = _tables(partial_report)
    status = tables["status"].set_index(["problem", "surrogate"])
    assert status.loc[("bc", "auto"), "running"] == 1 and status.loc[("branin", "auto"), "pending"] == 1
    row = _cell(tables["final_best"], "bc", "auto")
    assert row["finished"] == 2 and row["runs"] == 3
    finals = _finals(runs, evals)
    expected = _direct_ranks(runs, finals)  # the unfinished seeds are left out
    ranks = tables["ranks"].set_index("surrogate")
    for s in SURROGATES:
        for problem in PROBLEMS:
            assert ranks.loc[s, problem] == pytest.approx(expected[(problem, s)])
