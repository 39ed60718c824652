"""Exports: a study's results as small files for a repository, readable without the store.

An export is the evaluation table of ``bnnbo.results.load_results`` (one row per evaluation,
``trace`` included) plus a JSON document with everything else a report needs: the studies
(name, description, the study file's text, timestamps) and every run (labels, registry names,
resolved settings, the whole run spec, status, counters, error and traceback, timestamps) —
also runs without evaluations yet. Parquet keeps the document in the file (pandas ``attrs``);
CSV puts it beside the file as ``<stem>.meta.json``. Only data is read back (JSON, Parquet, CSV):
nothing in an export can execute code.
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

from bnnbo.errors import ConfigError
from bnnbo.version import __version__

FORMAT, VERSION = "bnnbo-export", 1
SUFFIXES = (".parquet", ".csv")
#: run columns kept in the export beside bnnbo.results.RUN_COLUMNS
EXTRA_RUN_COLUMNS = ["traceback", "started_at", "updated_at", "settings", "spec"]


def _iso(value) -> str | None:
    return None if value is None or value is pd.NaT else pd.Timestamp(value).isoformat()


def export_metadata(store, study: str | None) -> dict[str, Any]:
    """The export's JSON document: studies and runs (not superseded ones, as the evaluations)."""
    studies, runs = store.export_documents(study)
    for row in (*studies, *runs):
        for key, value in row.items():
            if key.endswith("_at"):
                row[key] = _iso(value)
    return {
        "format": FORMAT,
        "version": VERSION,
        "bnnbo": __version__,
        "exported_at": datetime.now(timezone.utc).isoformat(),
        "studies": studies,
        "runs": runs,
    }


def sidecar(path: Path) -> Path:
    return path.with_name(path.stem + ".meta.json")


# ---- reading ---------------------------------------------------------------------------------------
def export_paths(source) -> list[Path] | None:
    """The export files ``source`` names (a file, a folder of them, or a list), None for a store URL."""
    if isinstance(source, (list, tuple)):
        paths = [p for s in source for p in (export_paths(s) or [_not_export(s)])]
        return paths or None
    if source is None or (isinstance(source, str) and "://" in source):
        return None
    path = Path(source)
    if path.is_dir():
        found = sorted(p for p in path.iterdir() if p.suffix in SUFFIXES)
        if not found:
            raise ConfigError(f"{str(path)!r} holds no exported results (*.parquet or *.csv)")
        return found
    if path.suffix in SUFFIXES:
        if not path.exists():
            raise ConfigError(f"no exported results file {str(path)!r}")
        return [path]
    return None


def _not_export(s) -> Path:
    raise ConfigError(f"{str(s)!r} is not an exported results file (.parquet, .csv) or a folder of them")


def _read_one(path: Path) -> tuple[dict[str, Any], pd.DataFrame]:
    if path.suffix == ".parquet":
        try:
            evals = pd.read_parquet(path)
        except ImportError as exc:
            from bnnbo.errors import UnavailableError

            raise UnavailableError(f"reading Parquet needs pyarrow: pip install 'bnnbo[parquet]' ({exc})") from None
        except Exception as exc:  # noqa: BLE001 - pyarrow raises several kinds on a damaged file
            raise ConfigError(f"{str(path)!r} is not a readable Parquet file: {exc}") from None
        meta = evals.attrs.get("bnnbo")
        evals.attrs = {}
        evals["x"], evals["y"] = evals["x"].map(list), evals["y"].map(list)
    else:
        try:
            evals = pd.read_csv(path)
        except Exception as exc:  # noqa: BLE001 - the parser's kinds of errors vary
            raise ConfigError(f"{str(path)!r} is not a readable CSV file: {exc}") from None
        meta_path = sidecar(path)
        try:
            meta = json.loads(meta_path.read_text())
        except OSError:
            raise ConfigError(
                f"{str(path)!r}: its metadata {meta_path.name!r} is missing (export the study "
                "again with `bnnbo export`)"
            ) from None
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{str(meta_path)!r} is not valid JSON: {exc}") from None
        evals["x"], evals["y"] = evals["x"].map(json.loads), evals["y"].map(json.loads)
        evals["created_at"] = pd.to_datetime(evals["created_at"], format="ISO8601")
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ConfigError(
            f"{str(path)!r} is not a bnnbo export with run metadata (made by an older "
            "bnnbo, or another tool): export the study again with `bnnbo export`"
        )
    if meta.get("version") != VERSION:
        raise ConfigError(f"{str(path)!r}: export version {meta.get('version')!r}; this bnnbo reads {VERSION}")
    for col in ("diagnostics", "problem_options"):
        evals[col] = evals[col].map(json.loads)
    return meta, evals


def load_exports(source) -> tuple[list[dict[str, Any]], pd.DataFrame, pd.DataFrame]:
    """Studies, runs and evaluations of one or more exports (run ids renumbered when several
    files are combined: each store numbers its own runs)."""
    paths = export_paths(source)
    if not paths:
        raise ConfigError(f"{source!r} names no exported results")
    studies: list[dict[str, Any]] = []
    runs, evals, next_id = [], [], 1
    for path in paths:
        meta, ev = _read_one(path)
        r = pd.DataFrame(meta["runs"])
        if r.empty:
            continue
        if len(paths) > 1:
            ids = {old: next_id + i for i, old in enumerate(r.run_id)}
            next_id += len(ids)
            r["run_id"], ev["run_id"] = r.run_id.map(ids), ev.run_id.map(ids)
        seen = {s["name"] for s in studies}
        dup = [s["name"] for s in meta["studies"] if s["name"] in seen]
        if dup:
            raise ConfigError(
                f"study {dup[0]!r} is in more than one of the exports given ({path}); give each study once"
            )
        studies += meta["studies"]
        runs.append(r)
        evals.append(ev)
    if not runs:
        raise ConfigError(f"the exports {', '.join(map(str, paths))} hold no runs")
    runs_df, evals_df = pd.concat(runs, ignore_index=True), pd.concat(evals, ignore_index=True)
    for col in ("created_at", "started_at", "finished_at", "updated_at"):
        runs_df[col] = pd.to_datetime(runs_df[col], format="ISO8601")
    return studies, runs_df, evals_df


def is_export_source(source) -> bool:
    if isinstance(source, (list, tuple)):
        return True
    if source is None or (isinstance(source, str) and "://" in source):
        return False
    p = Path(os.fspath(source))
    return p.is_dir() or p.suffix in SUFFIXES
