"""One figure per problem: best so far (or hypervolume) against evaluations, mean ± SE over seeds,
one line per surrogate, the initial design shaded, and log10 regret beside it where the optimum
is known.

Figures are built on matplotlib's object API with an explicit Agg canvas: no pyplot state, no
display, and nothing changed for a caller who uses pyplot in the same process.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from bnnbo.outputs import safe_stem
from bnnbo.report.data import ReportData, curve, curve_runs

PNG_DPI = 110
#: colours by the surrogate's position in the study, so a surrogate keeps its colour in every plot
COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22")


def color_of(data: ReportData, surrogate: str) -> str:
    return COLORS[data.surrogates.index(surrogate) % len(COLORS)]


def draw_curve(ax: Axes, c: pd.DataFrame, color: str, label: str | None) -> None:
    """Mean line with a ± SE band; dashed where not every run has got that far yet."""
    if c.empty:
        return
    x, m = c.evaluation.to_numpy(), c["mean"].to_numpy()
    band = np.isfinite(c.se.to_numpy())
    ax.fill_between(x, m - c.se.fillna(0), m + c.se.fillna(0), where=band, color=color, alpha=0.18, linewidth=0)
    full = int((c.n == c.n.max()).sum())  # runs only grow, so every run reached a prefix
    ax.plot(x[:full], m[:full], color=color, linewidth=1.8, label=label)
    if full < len(x):
        ax.plot(x[full - 1 :], m[full - 1 :], color=color, linewidth=1.4, linestyle="--")


def mark_initial(ax: Axes, n_init: int, label: str | None) -> None:
    """Shade evaluations 1..n_init; named in the legend, since a narrow band has no room for text."""
    if n_init > 0:
        ax.axvspan(0.5, n_init + 0.5, color="0.88", zorder=0, linewidth=0, label=label)


def _label(data: ReportData, problem: str, surrogate: str) -> str | None:
    """``gp (3 runs)``; ``hmc (2 of 3 runs, 1 unfinished)`` when some are missing or still going."""
    drawn = curve_runs(data, problem, surrogate)
    if drawn.empty:
        return None
    r = data.runs
    total = int(((r.problem == problem) & (r.surrogate == surrogate)).sum())
    open_ = int((drawn.status != "finished").sum())
    runs = f"{len(drawn)} run{'s' * (total != 1)}" if len(drawn) == total else f"{len(drawn)} of {total} runs"
    return f"{surrogate} ({runs}" + (f", {open_} unfinished)" if open_ else ")")


def problem_figure(data: ReportData, problem: str) -> Figure:
    info = data.problems[problem]
    regret = info.optimum is not None
    fig = Figure(figsize=(10.5 if regret else 7.0, 3.9), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, 2 if regret else 1, squeeze=False)[0]
    drawn = False
    for surrogate in data.surrogates:
        label = _label(data, problem, surrogate)
        if label is None:
            continue
        drawn = True
        color = color_of(data, surrogate)
        draw_curve(axes[0], curve(data, problem, surrogate), color, label)
        if regret:
            draw_curve(axes[1], curve(data, problem, surrogate, regret=True), color, None)
    for i, ax in enumerate(axes):
        mark_initial(ax, info.n_init, f"initial design ({info.n_init})" if i == 0 else None)
        ax.set_xlabel("evaluations")
        ax.set_xlim(0.5, max(info.budget, 1) + 0.5)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel(info.metric)
    if regret:
        axes[1].set_ylabel("log10 " + ("hypervolume regret" if info.objectives > 1 else "regret"))
    title = f"{problem}" + (f" ({info.name})" if info.name != problem else "")
    if data.partial:
        title += " — partial results"
    fig.suptitle(title, fontsize=12, fontweight="bold")
    if drawn:
        fig.legend(loc="outside right upper", fontsize=9, frameon=False)
    else:
        axes[0].text(0.5, 0.5, "no evaluations yet", transform=axes[0].transAxes, ha="center")
    return fig


def save_figure(fig: Figure, folder: Path, stem: str) -> tuple[Path, Path]:
    """Write PNG (embedded in the HTML) and SVG (for papers); return both paths."""
    folder.mkdir(parents=True, exist_ok=True)
    png, svg = folder / f"{stem}.png", folder / f"{stem}.svg"
    fig.savefig(png, dpi=PNG_DPI)
    fig.savefig(svg)
    return png, svg


def write_plots(data: ReportData, folder: Path) -> dict[str, tuple[Path, Path]]:
    """One PNG + SVG per problem, by problem label."""
    # labels may be long (up to the store's 200 characters, more via the API): bounded stems
    return {p: save_figure(problem_figure(data, p), folder, safe_stem(p)) for p in data.problems}
