"""Surrogate-quality assessment: held-out NLL, RMSE and calibration of fitted surrogates.

``assess(problem, ["gp", "ibnn"], n=100)`` fits each surrogate on ``n`` scrambled-Sobol points
(seeded) and scores it on ``m`` uniform random test points (another seeded stream). The scores
(``nll``, ``rmse``, ``coverage``) are ``bnnbo.surrogates.scoring``'s, the code that also ranks the
candidates of the ``auto`` surrogate; this module is the tool on top (designs, tables, plots).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from bnnbo.errors import ConfigError
from bnnbo.limits import MAX_ASSESS_M, MAX_ASSESS_N
from bnnbo.outputs import check_output_file
from bnnbo.problems import Problem, get_problem
from bnnbo.space import DTYPE
from bnnbo.surrogates.scoring import (  # noqa: F401 - part of this module's interface
    LEVELS,
    gaussian_scores,
    predict,
    score,
    surrogate_name,
)

#: central-interval levels of the plot (the table uses LEVELS)
CURVE_LEVELS = tuple(round(0.05 * i, 2) for i in range(1, 20)) + (0.99,)


@dataclass
class Assessment:
    """One surrogate's scores on one problem (averaged over objectives; per objective kept)."""

    label: str
    nll: float
    rmse: float
    coverage: dict[float, float]
    fit_seconds: float
    per_objective: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


def design(problem: Problem, n: int, m: int, seed: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Training inputs (scrambled Sobol, ``n``) and test inputs (uniform, ``m``) in the unit cube,
    with their values (maximisation convention)."""
    check_sizes(n, m)
    sp = problem.space
    X = sp.to_unit(sp.sobol(n, seed=seed))
    g = torch.Generator().manual_seed(seed + 1)
    Xt = sp.to_unit(sp.from_unit(torch.rand(m, sp.dim, generator=g, dtype=DTYPE)))
    return X, problem.evaluate(sp.from_unit(X)), Xt, problem.evaluate(sp.from_unit(Xt))


def check_sizes(n: object, m: object) -> None:
    """Training and test sizes, before any point is drawn."""
    for name, v, top in (("n", n, MAX_ASSESS_N), ("m", m, MAX_ASSESS_M)):
        if not isinstance(v, int) or isinstance(v, bool) or v < 2:
            raise ConfigError(f"assess: {name} must be an integer >= 2, got {v!r}")
        if v > top:
            raise ConfigError(f"assess: {name} = {v} is too large; expected at most {top}")


def check_plot_path(path: str | os.PathLike) -> Path:
    """A writable file with a suffix matplotlib can write (checked before the fits)."""
    from matplotlib.backend_bases import FigureCanvasBase

    path = check_output_file(path, "plot file")
    kinds = FigureCanvasBase.get_supported_filetypes()
    suffix = path.suffix.lstrip(".").lower()
    if suffix and suffix not in kinds:
        raise ConfigError(
            f"plot file {str(path)!r}: unknown image format {suffix!r}; expected one of: {', '.join(sorted(kinds))}"
        )
    return path


def assess(
    problem: Problem | str,
    surrogates: list[str],
    n: int = 100,
    m: int = 1000,
    seed: int = 0,
    settings: dict[str, dict[str, Any]] | None = None,
    workers: int = 1,
) -> list[Assessment]:
    """Fit each surrogate label (``name`` or ``name/suffix``) on ``n`` points and score it on ``m``.

    ``settings`` maps a label to its setting overrides. A surrogate that fails is reported
    with its error instead of stopping the others. ``workers > 1`` fits the surrogates in that
    many processes, sharing the cores out between them (every fit is seeded, so the results
    are the same up to the rounding of float32 sums, whose order follows the thread count)."""
    from bnnbo.surrogates import get_surrogate

    problem = get_problem(problem) if isinstance(problem, str) else problem
    settings = settings or {}
    unknown = sorted(set(settings) - set(surrogates))
    if unknown:
        raise ConfigError(f"assess: settings given for {unknown}, which are not among {surrogates}")
    check_sizes(n, m)
    sur = {label: get_surrogate(surrogate_name(label), **settings.get(label, {})) for label in surrogates}
    data = design(problem, n, m, seed)
    if workers <= 1 or len(sur) == 1:
        return [_assess_one(label, s, *data, seed) for label, s in sur.items()]
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from bnnbo.executors import default_threads, set_threads

    # spawn, not fork: a forked child of a process whose torch thread pools have run can deadlock
    ctx = multiprocessing.get_context("spawn")
    n = min(workers, len(sur))
    # the cores shared out: oversubscribed OpenMP threads slow every fit (docs/performance.md)
    threads = (max(1, default_threads() // n),)
    with ProcessPoolExecutor(n, mp_context=ctx, initializer=set_threads, initargs=threads) as pool:
        futures = [pool.submit(_assess_one, label, s, *data, seed) for label, s in sur.items()]
        return [f.result() for f in futures]


def _assess_one(label, surrogate, X, Y, Xt, Yt, seed) -> Assessment:
    t0 = time.perf_counter()
    try:
        model = surrogate.fit(X, Y, seed=seed)
        seconds = time.perf_counter() - t0
        s = score(model, Xt, Yt, Y, levels=tuple(sorted(set(LEVELS + CURVE_LEVELS))))
    except Exception as exc:  # noqa: BLE001 -- report it, keep assessing the others
        nan = float("nan")
        return Assessment(label, nan, nan, {}, time.perf_counter() - t0, error=f"{type(exc).__name__}: {exc}")
    mean = lambda xs: sum(xs) / len(xs)
    return Assessment(
        label, mean(s["nll"]), mean(s["rmse"]), {p: mean(c) for p, c in s["coverage"].items()}, seconds, per_objective=s
    )


HEADER = ("surrogate", "NLL", "RMSE", *(f"cover {int(p * 100)}%" for p in LEVELS), "fit s")


def table_rows(results: list[Assessment]) -> list[tuple[str, ...]]:
    """Rows of strings matching ``HEADER`` (failed surrogates show their error)."""
    rows = []
    for r in results:
        if r.error:
            rows.append((r.label, "failed", r.error[:60], *([""] * len(LEVELS)), f"{r.fit_seconds:.1f}"))
            continue
        cover = (f"{r.coverage[p]:.2f}" for p in LEVELS)
        rows.append((r.label, f"{r.nll:.3f}", f"{r.rmse:.3f}", *cover, f"{r.fit_seconds:.1f}"))
    return rows


def to_markdown(results: list[Assessment]) -> str:
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    lines += ["| " + " | ".join(row) + " |" for row in table_rows(results)]
    return "\n".join(lines)


def plot_calibration(results: list[Assessment], path: str, title: str = "") -> None:
    """Observed vs nominal coverage of central intervals, one line per surrogate (PNG/SVG/PDF)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.plot([0, 1], [0, 1], color="0.6", linestyle="--", linewidth=1, label="ideal")
    for r in results:
        if r.error:
            continue
        levels = sorted(p for p in r.coverage if p in CURVE_LEVELS)
        ax.plot(levels, [r.coverage[p] for p in levels], marker=".", label=f"{r.label} (NLL {r.nll:.2f})")
    ax.set(
        xlabel="nominal coverage of central interval", ylabel="observed coverage", xlim=(0, 1), ylim=(0, 1), title=title
    )
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    try:
        fig.savefig(path, dpi=120)
    except OSError as exc:
        raise ConfigError(f"cannot write the plot {str(path)!r}: {exc.strerror or exc}") from None
    finally:
        plt.close(fig)
