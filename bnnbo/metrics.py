"""How runs are scored and compared, in one place: best-so-far traces, hypervolume, final values
and ranks. The table ``bnnbo run`` prints, ``bnnbo.results.summarize``, the HTML report and the
dashboard all use these, so they agree on every value and every ranking.

Values are in the maximisation convention. A run's *trace* is its best value so far (one
objective) or the dominated hypervolume w.r.t. the problem's reference point (several; inferred
from the data when the problem has none). A run's *final* value is the last value of its trace
and counts once the run is finished. Ranks are per (problem, seed), 1 = best, ties averaged; a
failed run ranks last on its seed, an unfinished one is left out; surrogates are ordered by their
mean rank over seeds.
"""

from __future__ import annotations

import math

import pandas as pd
import torch
from botorch.utils.multi_objective.box_decompositions import DominatedPartitioning
from botorch.utils.multi_objective.hypervolume import infer_reference_point
from torch import Tensor

from bnnbo.records import RunStatus
from bnnbo.space import DTYPE


def progress_trace(Y: Tensor, ref_point: Tensor | None) -> Tensor:
    """Best value so far (``m = 1``) or dominated hypervolume w.r.t. ``ref_point`` after each row."""
    if Y.shape[-1] == 1:
        return Y[:, 0].cummax(0).values
    ref = infer_reference_point(Y) if ref_point is None else ref_point.to(Y)
    out, last = torch.zeros(Y.shape[0], dtype=DTYPE), 0.0
    for i in range(Y.shape[0]):
        if (Y[i] > ref).all() or i == 0:
            last = float(DominatedPartitioning(ref_point=ref, Y=Y[: i + 1]).compute_hypervolume())
        out[i] = last
    return out


def final_value(Y: Tensor, ref_point: Tensor | None) -> float | None:
    """The last value of ``progress_trace(Y, ref_point)``, computed once (None without data)."""
    if Y.shape[0] == 0:
        return None
    if Y.shape[-1] == 1:
        return float(Y.max())
    ref = infer_reference_point(Y) if ref_point is None else ref_point.to(Y)
    better = (Y > ref).all(-1)
    if not better.any():
        return 0.0
    return float(DominatedPartitioning(ref_point=ref, Y=Y[better]).compute_hypervolume())


def final_values(runs: pd.DataFrame, evals: pd.DataFrame) -> pd.DataFrame:
    """One row per finished run: run_id, problem, surrogate, seed, final (last trace value).

    ``runs``: one row per run (``bnnbo.results.load_runs``); ``evals``: one row per evaluation
    with a ``trace`` column (``bnnbo.results.load_results``)."""
    done = runs[runs.status == RunStatus.FINISHED]
    last = evals.groupby("run_id").trace.last()
    out = done[["run_id", "problem", "surrogate", "seed"]].copy()
    out["final"] = last.reindex(out.run_id).to_numpy()
    return out


def seed_ranks(runs: pd.DataFrame, evals: pd.DataFrame) -> pd.DataFrame:
    """Rank of each surrogate per (problem, seed): 1 = best; failed runs last, ties averaged."""
    finals = final_values(runs, evals).set_index("run_id").final
    settled = runs[runs.status.isin([RunStatus.FINISHED.value, RunStatus.FAILED.value])].copy()
    settled["value"] = [
        finals.get(i, -math.inf) if s == RunStatus.FINISHED else -math.inf
        for i, s in zip(settled.run_id, settled.status)
    ]
    settled["rank"] = settled.groupby(["problem", "seed"]).value.rank(ascending=False, method="average")
    return settled[["problem", "surrogate", "seed", "status", "value", "rank"]]


def mean_ranks(runs: pd.DataFrame, evals: pd.DataFrame) -> pd.DataFrame:
    """``surrogates x problems``: each surrogate's mean rank over seeds on each problem (NaN where
    it has no settled run), in the order the surrogates and problems first appear in ``runs``."""
    ranks = seed_ranks(runs, evals)
    wide = ranks.pivot_table(index="surrogate", columns="problem", values="rank", aggfunc="mean")
    surrogates, problems = list(dict.fromkeys(runs.surrogate)), list(dict.fromkeys(runs.problem))
    return wide.reindex(
        index=[s for s in surrogates if s in wide.index], columns=[p for p in problems if p in wide.columns]
    )


def standard_error(values) -> float:
    """Standard error of the mean; NaN with fewer than two values."""
    v = pd.Series(values, dtype=float).dropna()
    return float(v.std(ddof=1) / math.sqrt(len(v))) if len(v) > 1 else math.nan
