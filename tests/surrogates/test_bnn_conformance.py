"""The shared conformance suite and short BO runs for the finite-width BNN surrogates."""

import pytest
import torch

import bnnbo
from bnnbo.surrogates import get_surrogate
from bnnbo.testing.conformance import check_surrogate

#: cheap settings: small networks and short runs (the defaults are the study's)
CHEAP = {
    "hmc": {
        "widths": [16, 16],
        "pretrain_steps": 200,
        "pretrain_lr": 1e-2,
        "n_burn_in": 20,
        "n_samples": 32,
        "n_chains": 2,
        "warm_burn_in": 10,
    },
    "sghmc": {"widths": [16, 16], "num_steps": 300, "n_burn_in": 150, "n_chains": 2},
    "ensemble": {"widths": [16, 16], "n_members": 4, "train_steps": 200, "lr": 1e-2},
}


@pytest.mark.parametrize("name", sorted(CHEAP))
def test_conformance(name):
    check_surrogate(lambda: get_surrogate(name, **CHEAP[name]))


@pytest.mark.parametrize("name", sorted(CHEAP))
@pytest.mark.parametrize("problem, q", [("branin", 1), ("branincurrin", 2)])
def test_bo_runs_end_to_end(name, problem, q):
    res = bnnbo.optimize(
        problem,
        surrogate=name,
        budget=9,
        n_init=5,
        q=q,
        seed=0,
        surrogate_settings=CHEAP[name],
        acq_optimizer="paper",
    )
    assert res.X.shape[0] == 9 and torch.isfinite(res.Y).all()
    assert len(res.fit_seconds) == (4 if q == 1 else 2)
    assert all(d for d in res.diagnostics), "every model-based ask records the surrogate's diagnostics"
    if name == "hmc":
        assert [d["warm_start"] for d in res.diagnostics][:2] == [False, True]


def test_paper_mode_bo_with_hmc_is_reproducible():
    runs = [
        bnnbo.optimize(
            "branin",
            surrogate="hmc",
            budget=7,
            n_init=5,
            q=1,
            seed=3,
            acquisition="paper",
            surrogate_settings={**CHEAP["hmc"], "warm_start": False},
        )
        for _ in range(2)
    ]
    assert torch.equal(runs[0].X, runs[1].X)
    assert [d["warm_start"] for d in runs[0].diagnostics] == [False, False]
