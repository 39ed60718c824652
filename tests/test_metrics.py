"""The table ``bnnbo run`` prints (``results.summarize``) and the HTML report rank surrogates the
same way (``bnnbo.metrics``), also where ordering by mean final value would disagree."""

from __future__ import annotations

import math

import pytest
import torch

from bnnbo.metrics import final_value, progress_trace
from bnnbo.report.data import load_report_data
from bnnbo.report.tables import mean_ranks
from bnnbo.results import summarize
from bnnbo.storage import Store
from bnnbo.study import parse_study

STUDY = """
name = "ranks"
seeds = 3
[problems.branin]
n_init = 2
q = 1
iterations = 0
[surrogates.steady]
surrogate = "gp"
[surrogates.lucky]
surrogate = "ibnn"
"""
# final best per seed: "lucky" wins one seed by far (best mean), "steady" wins two (best mean rank)
FINAL = {"steady": [-1.0, -1.0, -5.0], "lucky": [-2.0, -2.0, -0.1]}


@pytest.fixture
def store(tmp_path):
    study = parse_study(STUDY)
    url = f"sqlite:///{tmp_path / 'ranks.db'}"
    with Store(url) as s:
        sid = s.save_study(study)
        for spec in study.cells():
            run = s.add_run(sid, spec)
            best = FINAL[spec.surrogate][spec.seed]
            rows = [
                {
                    "index": i,
                    "batch": 0,
                    "x": [0.0, 0.0],
                    "y": [y],
                    "initial": True,
                    "fit_seconds": 0.0,
                    "acq_seconds": 0.0,
                    "diagnostics": {},
                }
                for i, y in enumerate([best - 3.0, best])
            ]
            s.commit_step(run.id, rows, None, best, "finished")
    return url


def test_cli_table_and_report_rank_alike_where_the_mean_would_not(store):
    summary = summarize(store, "ranks")
    means = dict(zip(summary.surrogate, summary["mean"]))
    assert means["lucky"] > means["steady"]  # by mean final value, "lucky" would come first
    report = mean_ranks(load_report_data(store, "ranks")).data.set_index("surrogate")["branin"]
    cli = summary.set_index("surrogate")["mean_rank"]
    assert cli.to_dict() == pytest.approx(report.to_dict())
    assert cli.to_dict() == pytest.approx({"steady": 4 / 3, "lucky": 5 / 3})
    assert list(summary.surrogate) == list(report.sort_values(kind="stable").index) == ["steady", "lucky"]
    assert summary.set_index("surrogate")["rank"].to_dict() == {"steady": 1, "lucky": 2}


def test_final_value_is_the_last_trace_value():
    g = torch.Generator().manual_seed(0)
    Y = -torch.rand(12, 2, generator=g, dtype=torch.float64) * 10
    ref = torch.tensor([-9.0, -9.0], dtype=torch.float64)
    assert final_value(Y, ref) == pytest.approx(float(progress_trace(Y, ref)[-1]))
    assert final_value(Y[:, :1], None) == float(progress_trace(Y[:, :1], None)[-1])
    assert final_value(Y[:0], ref) is None
    assert math.isclose(final_value(torch.full((3, 2), -20.0, dtype=torch.float64), ref), 0.0)
