"""What a person sees while a study runs: rich progress bars, then a ranking table per problem.

The runner calls ``start``, ``run_started``, ``run_advanced``, ``run_finished`` (each with a
``RunEvent``: what a person sees of a run, nothing of the runner's internals) and ``stop``;
``NullProgress`` (for ``--quiet`` and library use) does nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from bnnbo.records import RunStatus


@dataclass(frozen=True)
class RunEvent:
    """A run's state as progress shows it: its cell, evaluations so far, best value so far (or
    hypervolume), and the error of a failed run."""

    run_id: int
    problem: str
    surrogate: str
    seed: int
    budget: int
    n: int
    best: float | None
    objectives: int = 1
    error: str | None = None


class NullProgress:
    def start(self, study: str, total: int, done: int, executor: str) -> None: ...
    def run_started(self, run: RunEvent) -> None: ...
    def run_advanced(self, run: RunEvent) -> None: ...
    def run_finished(self, run: RunEvent, status: RunStatus) -> None: ...
    def stop(self) -> None: ...


def _best_text(run: RunEvent) -> str:
    if run.best is None:
        return ""
    label = "best" if run.objectives == 1 else "hypervolume"
    return f"{label} {run.best:.6g}"


class RichProgress(NullProgress):
    """One bar for the study's cells and one per run in flight (evaluations, best so far)."""

    def __init__(self, console: Console | None = None):
        self.console = console or Console()
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[best]}"),
            TimeElapsedColumn(),
            console=self.console,
        )
        self._overall: TaskID | None = None
        self._tasks: dict[int, Any] = {}

    def start(self, study: str, total: int, done: int, executor: str) -> None:
        if done == total:
            self.console.print(f"study [bold]{study}[/bold]: all {total} runs already finished")
        elif done:
            self.console.print(
                f"study [bold]{study}[/bold]: {done} of {total} runs already finished; continuing the rest ({executor})"
            )
        else:
            self.console.print(f"study [bold]{study}[/bold]: {total} runs ({executor})")
        self._progress.start()
        self._overall = self._progress.add_task("[bold]runs", total=total, completed=done, best="")

    def run_started(self, run: RunEvent) -> None:
        desc = f"  {run.problem} / {run.surrogate} / seed {run.seed}"
        self._tasks[run.run_id] = self._progress.add_task(desc, total=run.budget, completed=run.n, best=_best_text(run))

    def run_advanced(self, run: RunEvent) -> None:
        task = self._tasks.get(run.run_id)
        if task is not None:
            self._progress.update(task, completed=run.n, best=_best_text(run))

    def run_finished(self, run: RunEvent, status: RunStatus) -> None:
        task = self._tasks.pop(run.run_id, None)
        if task is not None:
            self._progress.remove_task(task)
        if self._overall is not None:
            self._progress.advance(self._overall)
        if status == RunStatus.FAILED:
            self._progress.console.print(
                f"[red]failed[/red] {run.problem} / {run.surrogate} / seed {run.seed}: "
                f"{escape(run.error or 'see bnnbo status')}"
            )

    def stop(self) -> None:
        self._progress.stop()


def ranking_tables(summary) -> list[Table]:
    """One rich table per problem from ``bnnbo.results.summarize``'s DataFrame, best first."""
    tables = []
    for problem, rows in summary.groupby("problem", sort=False):
        metric = "final hypervolume" if (rows["objectives"] > 1).any() else "final best"
        t = Table(
            "rank",
            "surrogate",
            f"{metric} (mean ± SE)",
            "runs",
            "mean fit s / iteration",
            title=f"{problem}",
            title_justify="left",
        )
        for _, r in rows.iterrows():
            value = (
                "-"
                if r["mean"] != r["mean"]
                else (f"{r['mean']:.6g} ± {r['se']:.2g}" if r["se"] == r["se"] else f"{r['mean']:.6g}")
            )
            runs = f"{r['finished']}/{r['runs']}" + (f" ({r['failed']} failed)" if r["failed"] else "")
            fit = "-" if r["fit_seconds"] != r["fit_seconds"] else f"{r['fit_seconds']:.3f}"
            t.add_row("-" if pd.isna(r["rank"]) else str(r["rank"]), r["surrogate"], value, runs, fit)
        tables.append(t)
    return tables
