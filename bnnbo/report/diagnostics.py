"""Tables from the surrogates' own diagnostics (the JSON stored with each iteration).

Diagnostics are free-form per surrogate and may nest (``auto`` keeps its winner's under
``fit``, ``hybrid`` one dict per role), so they are flattened to dotted keys and matched on
the last part. Only the keys a reader acts on are summarised; everything else stays in
``bnnbo export``.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

import numpy as np
import pandas as pd

from bnnbo.report.data import ReportData
from bnnbo.report.tables import ReportTable, fmt, iterations

#: MCMC health (HMC / SGHMC) and fit quality (Laplace, DKL): what says whether to trust a fit
KEYS = ("acceptance", "rhat_max", "ess_min", "divergences", "step_size", "map_mse", "mll_loss")


def flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"fit": {"acceptance": 0.7}}`` -> ``{"fit.acceptance": 0.7}``."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten(v, key + "."))
        else:
            out[key] = v
    return out


def number(v: Any) -> float | None:
    """A finite or infinite float from a stored value (the store writes NaN and inf as text)."""
    if isinstance(v, bool) or v is None:
        return None
    if isinstance(v, (int, float)):
        return float(v)
    if isinstance(v, str) and v in ("nan", "inf", "-inf"):
        return float(v)
    return None


def _collect(diags) -> dict[str, list[float]]:
    values: dict[str, list[float]] = {}
    for d in diags:
        for key, v in flatten(d if isinstance(d, dict) else {}).items():
            x = number(v)
            if key.rsplit(".", 1)[-1] in KEYS and x is not None:
                values.setdefault(key, []).append(x)
    return values


def diagnostics_table(data: ReportData) -> ReportTable:
    rows = []
    for (problem, surrogate), g in iterations(data).groupby(["problem", "surrogate"], sort=False):
        for key, xs in _collect(g.diagnostics).items():
            a = np.asarray(xs, dtype=float)
            finite = a[np.isfinite(a)]
            rows.append(
                {
                    "problem": problem,
                    "surrogate": surrogate,
                    "diagnostic": key,
                    "iterations": len(a),
                    "median": np.median(finite) if finite.size else math.nan,
                    "min": finite.min() if finite.size else math.nan,
                    "max": finite.max() if finite.size else math.nan,
                }
            )
    df = pd.DataFrame(rows, columns=["problem", "surrogate", "diagnostic", "iterations", "median", "min", "max"])
    shown = df.copy()
    for col in ("median", "min", "max"):
        shown[col] = [fmt(v, 3) for v in df[col]]
    return ReportTable(
        "diagnostics",
        "Surrogate diagnostics",
        "Per iteration, over every run: HMC acceptance rate, split R-hat (max over "
        "outputs; near 1 means the chains agree), effective sample size, divergences, "
        "step size; Laplace / DKL fit losses.",
        df,
        shown,
    )


def used_candidate(diag: dict) -> str | None:
    """The candidate an ``auto`` iteration used: with ``combine="hedge"`` the one whose proposal
    was drawn (its ``choice`` is the best-scoring one), else its choice. ``diag`` may be flattened
    (a hedge iteration's diagnostics always hold ``hedge.eta``)."""
    hedge = "hedge" in diag or any(str(k).startswith("hedge.") for k in diag)
    label = diag.get("served") if hedge else diag.get("choice")
    return label if isinstance(label, str) else None


def auto_choices(data: ReportData) -> ReportTable:
    """How often ``auto`` picked each candidate and its mean held-out log-likelihood."""
    rows = []
    for (problem, surrogate), g in iterations(data).groupby(["problem", "surrogate"], sort=False):
        diags = [d for d in g.diagnostics if isinstance(d, dict) and isinstance(d.get("choice"), str)]
        if not diags:
            continue
        chosen = Counter(used_candidate(d) or d["choice"] for d in diags)
        scores: dict[str, list[float]] = {}
        for d in diags:
            if d.get("scored", True):  # unscored iterations repeat the last scores
                for cand, v in (d.get("scores") or {}).items():
                    x = number(v)
                    scores.setdefault(cand, [])
                    if x is not None and math.isfinite(x):
                        scores[cand].append(x)
        for cand in dict.fromkeys([*scores, *chosen]):
            s = scores.get(cand, [])
            rows.append(
                {
                    "problem": problem,
                    "surrogate": surrogate,
                    "candidate": cand,
                    "chosen": chosen[cand],
                    "share": chosen[cand] / len(diags),
                    "mean_score": float(np.mean(s)) if s else math.nan,
                    "scored": len(s),
                }
            )
    df = pd.DataFrame(rows, columns=["problem", "surrogate", "candidate", "chosen", "share", "mean_score", "scored"])
    shown = pd.DataFrame(
        {
            "problem": df.problem,
            "surrogate": df.surrogate,
            "candidate": df.candidate,
            "chosen (iterations)": df.chosen,
            "share": [f"{v:.0%}" for v in df.share],
            "mean held-out log-lik.": [fmt(v, 3) for v in df.mean_score],
            "times scored": df.scored,
        }
    )
    return ReportTable(
        "auto_choices",
        "Automatic surrogate choices",
        "For surrogates that choose per iteration (auto): how often each candidate was "
        "used and its mean held-out predictive log-likelihood when scored.",
        df,
        shown,
    )
