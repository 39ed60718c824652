"""What a store reports, as CSV files: the old store's expected outputs are these files as written
by bnnbo 1e0a1b3 (before issue 15's redesign); tests/test_old_store.py writes them again with
today's code and compares.

Regenerate (only for a new old store; the point is that these files do not change):
    python tests/data/old_store/dump.py tests/data/old_store/tiny.db tests/data/old_store/expected
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

#: columns that hold the wall-clock time of writing or reading, not results
CLOCK = ["created_at", "finished_at", "heartbeat_at", "updated_at"]


def dump(db: str | Path, out: str | Path) -> list[str]:
    """Write what the store reports into ``out``; return the file names written."""
    from bnnbo.report.data import load_report_data
    from bnnbo.report.writer import all_tables
    from bnnbo.results import load_results, load_runs, summarize

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    frames = {
        "runs.csv": load_runs(db, stale_after=1e9),
        "results.csv": load_results(db),
        "summary.csv": summarize(db),
    }
    for t in all_tables(load_report_data(db)):
        frames[f"report_{t.key}.csv"] = t.data
    for name, df in frames.items():
        df = df.drop(columns=[c for c in CLOCK if c in df.columns]).copy()
        for col in df.columns:
            if df[col].map(lambda v: isinstance(v, (dict, list))).any():
                df[col] = df[col].map(lambda v: json.dumps(v, sort_keys=True))
        df.to_csv(out / name, index=False)
    (out / "run_table.txt").write_text(run_table(db))
    return sorted([*frames, "run_table.txt"])


def run_table(db: str | Path) -> str:
    """The ranking tables ``bnnbo run`` prints when a study ends, as plain text."""
    from rich.console import Console

    from bnnbo.progress import ranking_tables
    from bnnbo.results import summarize

    with open(os.devnull, "w") as sink:
        console = Console(width=100, record=True, file=sink, color_system=None)
        for table in ranking_tables(summarize(db)):
            console.print(table)
    return console.export_text()


if __name__ == "__main__":
    src, dst = sys.argv[1], sys.argv[2]
    with tempfile.TemporaryDirectory() as tmp:  # never write the committed store
        copy = Path(tmp) / "store.db"
        copy.write_bytes(Path(src).read_bytes())
        print(dump(copy, dst))
