"""``write_report``: a study in the store -> a folder with the HTML report, plots and table CSVs.

Layout of ``out``::

    report.html          self-contained: open it anywhere
    plots/<problem>.png  the figures (PNG, embedded in the HTML) and .svg (vector, for papers)
    tables/<name>.csv    every table's numbers, unrounded
"""

from __future__ import annotations

import os
from pathlib import Path

from bnnbo.errors import ConfigError
from bnnbo.outputs import check_output_dir, safe_stem
from bnnbo.report.data import ReportData, load_report_data
from bnnbo.report.diagnostics import auto_choices, diagnostics_table
from bnnbo.report.html import render
from bnnbo.report.plots import write_plots
from bnnbo.report.tables import (
    ReportTable,
    failed_runs,
    final_best,
    mean_ranks,
    problems,
    status,
    timing,
)
from bnnbo.storage import Store


def all_tables(data: ReportData) -> list[ReportTable]:
    """Every table in the report's order; empty ones too (the report says 'none' in words)."""
    return [
        final_best(data),
        mean_ranks(data),
        timing(data),
        status(data),
        failed_runs(data),
        diagnostics_table(data),
        auto_choices(data),
        problems(data),
    ]


def default_out(study: str) -> Path:
    return Path("bnnbo-report") / safe_stem(study)


def write_report(
    url: str | os.PathLike | Store | None = None, study: str | None = None, out: str | os.PathLike | None = None
) -> Path:
    """Write the report of ``study`` (default: the most recently updated one) and return the
    path of its HTML file. Safe while the study runs: it reads what is committed so far.

    Args:
        url: SQLAlchemy URL, SQLite file or Store (default: ``$BNNBO_DB`` or ``bnnbo.db``), or
            exported results (``bnnbo export``): a .parquet / .csv file, a folder, or a list.
        study: the study's name.
        out: the folder to write (default: ``bnnbo-report/<study>``); existing files are replaced.
    """
    if out is not None:
        check_output_dir(out, "report folder")
    data = load_report_data(url, study)
    out = Path(out) if out is not None else check_output_dir(default_out(data.study), "report folder")
    try:
        plots = write_plots(data, out / "plots")
        tables = all_tables(data)
        (out / "tables").mkdir(parents=True, exist_ok=True)
        for t in tables:
            t.data.to_csv(out / "tables" / f"{t.key}.csv", index=False)
        path = out / "report.html"
        path.write_text(render(data, plots, tables), encoding="utf-8")
    except OSError as exc:  # e.g. the disk filled up, or permissions changed meanwhile
        raise ConfigError(f"cannot write the report to {str(out)!r}: {exc.strerror or exc}") from None
    return path
