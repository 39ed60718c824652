"""One self-contained HTML file: inline CSS, plots embedded as base64 PNG, no scripts or fonts
fetched from anywhere, so it opens from disk, from an e-mail attachment or on an offline machine.

A small inline script records each image's natural width in ``data-natural-width`` (and the
counts on ``<body>``) once the page has loaded: the browser test reads them from the DOM.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path

import pandas as pd
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from bnnbo.report.data import ReportData
from bnnbo.report.tables import ReportTable

#: what an empty table means, said in words instead of an empty grid
EMPTY = {
    "failed": "No run failed.",
    "diagnostics": "These surrogates record no MCMC or fit diagnostics.",
    "auto_choices": "No surrogate here chooses among candidates (auto).",
    "timing": "No model-based iteration yet (only the initial design).",
}

CSS = """
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1d1d1f;
       margin: 0; background: #f6f7f9; }
main { max-width: 1180px; margin: 0 auto; padding: 20px 28px 60px; background: #fff; }
h1 { font-size: 26px; margin: 8px 0 4px; } h2 { font-size: 20px; margin: 34px 0 6px;
     border-bottom: 1px solid #ddd; padding-bottom: 4px; }
.meta, .note, figcaption { color: #555; font-size: 13.5px; }
.banner { background: #fff4ce; border: 1px solid #e0b000; padding: 10px 14px; border-radius: 6px;
          margin: 12px 0; font-weight: 600; }
.banner.failed { background: #fde7e7; border-color: #d33; }
nav a { margin-right: 14px; font-size: 14px; }
figure { margin: 16px 0 26px; } figure img { max-width: 100%; height: auto; display: block; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; font-size: 14px; font-variant-numeric: tabular-nums; margin: 6px 0; }
th, td { border-bottom: 1px solid #e3e3e3; padding: 5px 12px 5px 0; text-align: left;
         vertical-align: top; }
th { border-bottom: 2px solid #bbb; white-space: nowrap; }
pre { font-size: 12px; background: #f3f3f3; padding: 8px; max-width: 900px; overflow-x: auto; }
"""

SCRIPT = """
window.addEventListener("load", function () {
  var imgs = document.querySelectorAll("img"), ok = 0;
  imgs.forEach(function (im) {
    im.setAttribute("data-natural-width", im.naturalWidth);
    if (im.complete && im.naturalWidth > 0) { ok += 1; }
  });
  document.body.setAttribute("data-images-total", imgs.length);
  document.body.setAttribute("data-images-loaded", ok);
});
"""


def esc(value) -> str:
    return html.escape(str(value))


def safe_url(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "the store"


def table_html(t: ReportTable, raw: tuple[str, ...] = ()) -> str:
    """The display frame as a table; columns in ``raw`` already hold HTML."""
    if t.display.empty:
        return f'<p class="note">{esc(EMPTY.get(t.key, "Nothing to show yet."))}</p>'
    cols = list(t.display.columns)
    head = "".join(f"<th>{esc(c)}</th>" for c in cols)
    rows = "".join(
        "<tr>" + "".join(f"<td>{v if c in raw else esc(v)}</td>" for c, v in zip(cols, row)) + "</tr>"
        for row in t.display.itertuples(index=False)
    )
    return (
        f'<div class="scroll"><table id="table-{t.key}"><thead><tr>{head}</tr></thead>'
        f"<tbody>{rows}</tbody></table></div>"
    )


def with_tracebacks(t: ReportTable) -> ReportTable:
    """The failed-runs table with each traceback's tail folded under its row (as HTML)."""
    shown = t.display.copy()
    shown["traceback"] = [
        f"<details><summary>show</summary><pre>{esc(_tail(tb))}</pre></details>" if tb else ""
        for tb in t.data.traceback
    ]
    return ReportTable(t.key, t.title, t.note, t.data, shown)


def _tail(text: str, lines: int = 25) -> str:
    return "\n".join(text.rstrip().splitlines()[-lines:])


def figure_html(problem: str, png: Path, svg: Path, caption: str) -> str:
    data = base64.b64encode(png.read_bytes()).decode("ascii")
    return (
        f'<figure id="plot-{esc(problem)}"><img src="data:image/png;base64,{data}" '
        f'alt="{esc(problem)}: progress per surrogate" data-problem="{esc(problem)}">'
        f"<figcaption>{esc(caption)} (vector version beside this file: "
        f'<a href="plots/{esc(svg.name)}">plots/{esc(svg.name)}</a>)</figcaption></figure>'
    )


def banners(data: ReportData) -> str:
    out = []
    if data.partial:
        counts = data.unfinished.status.value_counts()
        detail = ", ".join(f"{n} {s}" for s, n in counts.items())
        out.append(
            f'<div class="banner partial" id="partial">Partial results: {len(data.unfinished)} of '
            f"{len(data.runs)} runs are not finished ({esc(detail)}): the study is still running, "
            "or was stopped and resumes with the same <code>bnnbo run</code> command. Plots use the "
            "evaluations stored so far; final values and ranks count finished runs only.</div>"
        )
    failed = int((data.runs.status == "failed").sum())
    if failed:
        out.append(f'<div class="banner failed">{failed} run(s) failed: see <a href="#failed">Failed runs</a>.</div>')
    return "".join(out)


def latest(data: ReportData) -> str:
    """When the newest evaluation was stored: tells a stale partial study from a live one."""
    if data.evals.empty:
        return "no evaluations yet · "
    return f"latest evaluation {pd.Timestamp(data.evals.created_at.max()):%Y-%m-%d %H:%M} UTC · "


def caption(data: ReportData, problem: str) -> str:
    info = data.problems[problem]
    text = (
        f"{info.metric.capitalize()} against evaluations, mean ± standard error over seeds; "
        f"grey: initial design ({info.n_init} points). Failed runs are not drawn."
    )
    if info.optimum is not None:
        text += f" Right: log10 regret to the known optimum {info.shown(info.optimum):.6g}."
    if data.partial:
        text += " Dashed: not every run has reached these evaluations yet."
    return text


def render(data: ReportData, plots: dict[str, tuple[Path, Path]], tables: list[ReportTable]) -> str:
    tables = [with_tracebacks(t) if t.key == "failed" else t for t in tables]
    nav = "".join(
        f'<a href="#{k}">{esc(title)}</a>' for k, title in [("plots", "Plots"), *((t.key, t.title) for t in tables)]
    )
    figures = "".join(figure_html(p, *plots[p], caption(data, p)) for p in data.problems)
    sections = "".join(
        f'<section id="{t.key}"><h2>{esc(t.title)}</h2><p class="note">{esc(t.note)}</p>'
        f"{table_html(t, raw=('traceback',) if t.key == 'failed' else ())}</section>"
        for t in tables
    )
    meta = (
        f"{len(data.problems)} problem(s): {esc(', '.join(data.problems))} · "
        f"{len(data.surrogates)} surrogate(s): {esc(', '.join(data.surrogates))} · "
        f"{len(data.runs)} runs · store {esc(safe_url(data.url))} · {latest(data)}"
        f"written {data.created:%Y-%m-%d %H:%M} UTC"
    )
    title = f"bnnbo report: {data.study}" + (" (partial)" if data.partial else "")
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title><style>{CSS}</style></head>\n"
        f'<body><main><h1>{esc(title)}</h1><p class="meta">{meta}</p>{banners(data)}'
        f'<nav>{nav}</nav><section id="plots"><h2>Progress per problem</h2>{figures}</section>'
        f"{sections}</main><script>{SCRIPT}</script></body></html>\n"
    )
