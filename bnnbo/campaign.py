"""The reproduction campaign: many studies, cheapest first, resumable, exported as they finish.

    python -m bnnbo.campaign plan   [configs/campaign/campaign.toml] --db campaign.db [--workers N]
    python -m bnnbo.campaign run    [configs/campaign/campaign.toml] --db campaign.db [--workers N]
                                    [--max-hours H] [--only STUDY ...]
    python -m bnnbo.campaign export [configs/campaign/campaign.toml] --db campaign.db

Run it from the repository root: paths in the campaign file are relative to the current folder.
A campaign file lists ``[[study]]`` entries (a study file and optional overrides: ``seeds``,
``surrogates``, ``iterations``, ``skip``, ``reason``) and the ``results`` folder. ``run`` orders the
entries by ``bnnbo plan``'s estimate of the work left (unknown costs last), runs each with the
store (a second ``run`` resumes where the first stopped), and after each study writes
``<results>/<study>.parquet`` and ``<results>/manifest.json``: per study the seeds, surrogates,
budget run against the study file's, run counts, and why anything was not run (status
``complete``, ``partial`` (some runs finished), ``started`` (steps stored, no run finished) or
``not run``). An entry whose estimate exceeds ``--max-hours`` is left for later and recorded so. A
study exported in the results folder but absent from the store (run with another store) keeps
its file and manifest entry.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bnnbo._compat import tomllib
from bnnbo.errors import BnnboError, ConfigError
from bnnbo.study import Study, load_study

ENTRY_KEYS = ("file", "seeds", "surrogates", "iterations", "skip", "reason")
DEFAULT_FILE = "configs/campaign/campaign.toml"


@dataclass
class Entry:
    study: Study  # with the entry's overrides applied
    file: str
    full: Study  # as the study file has it
    skip: bool = False
    reason: str = ""


def load_campaign(path: str | Path) -> tuple[list[Entry], Path]:
    """Read and check a campaign file; every problem of every entry is reported at once."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text())
    except OSError as exc:
        raise ConfigError(f"cannot read campaign file {str(path)!r}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    errors: list[str] = []
    unknown = set(raw) - {"results", "study"}
    if unknown:
        errors.append(f"unknown key(s) {sorted(unknown)}; allowed: results, study")
    entries_raw = raw.get("study")
    if not isinstance(entries_raw, list) or not entries_raw:
        errors.append('no [[study]] entries; expected at least one with file = "..."')
        entries_raw = []
    results = raw.get("results", "results/paper")
    if not isinstance(results, str):
        errors.append(f"results = {results!r}; expected a folder path (a string)")
        results = "results/paper"
    entries, names = [], set()
    for i, e in enumerate(entries_raw):
        where = f"[[study]] #{i + 1}"
        bad = set(e) - set(ENTRY_KEYS)
        if bad:
            errors.append(f"{where}: unknown key(s) {sorted(bad)}; allowed: {', '.join(ENTRY_KEYS)}")
            continue
        if not isinstance(e.get("file"), str):
            errors.append(f"{where}: file = {e.get('file')!r}; expected a study file path")
            continue
        try:
            full = load_study(e["file"])
            study = apply_overrides(full, e, where)
        except BnnboError as exc:
            errors.append(f"{where}: {exc}")
            continue
        if study.name in names:
            errors.append(f"{where}: study {study.name!r} is listed twice")
        names.add(study.name)
        entries.append(Entry(study, e["file"], full, bool(e.get("skip", False)), str(e.get("reason", ""))))
    if errors:
        raise ConfigError(f"{path}: {len(errors)} problem(s):\n" + "\n".join(f"  - {x}" for x in errors))
    return entries, Path(results)


def apply_overrides(study: Study, e: dict[str, Any], where: str) -> Study:
    changes: dict[str, Any] = {}
    if "seeds" in e:
        s = e["seeds"]
        if isinstance(s, int) and not isinstance(s, bool) and s >= 1:
            changes["seeds"] = tuple(range(s))
        elif isinstance(s, list) and s and all(isinstance(x, int) and x >= 0 for x in s):
            changes["seeds"] = tuple(s)
        else:
            raise ConfigError(f"seeds = {s!r}; expected a count >= 1 or a list of seeds")
    if "surrogates" in e:
        keep = e["surrogates"]
        labels = [s["label"] for s in study.surrogates]
        if not isinstance(keep, list) or not keep or any(k not in labels for k in keep):
            raise ConfigError(f"surrogates = {keep!r}; expected labels of {study.name!r}: {', '.join(labels)}")
        changes["surrogates"] = tuple(s for s in study.surrogates if s["label"] in keep)
    if "iterations" in e:
        it = e["iterations"]
        if not isinstance(it, int) or isinstance(it, bool) or it < 0:
            raise ConfigError(f"iterations = {it!r}; expected an integer >= 0")
        changes["problems"] = tuple({**p, "iterations": min(it, p["iterations"])} for p in study.problems)
    for key in ("skip", "reason"):
        if key in e and not isinstance(e[key], bool if key == "skip" else str):
            raise ConfigError(f"{key} = {e[key]!r}; expected {'true or false' if key == 'skip' else 'a string'}")
    return dataclasses.replace(study, **changes)


# ---- plan / run / export -----------------------------------------------------------------------
def ordered(entries: list[Entry], db, workers: int) -> list[tuple[Entry, Any]]:
    """Entries with their plans, cheapest first; unknown costs last (fewest evaluations first)."""
    from bnnbo.plan import CostTable, plan_study

    costs = CostTable.load()
    plans = [(e, plan_study(e.study, db, costs, workers=workers)) for e in entries]
    return sorted(
        plans,
        key=lambda ep: (ep[0].skip, not ep[1].complete, ep[1].wall_seconds if ep[1].complete else ep[1].evaluations),
    )


def plan_table(rows, title: str):
    from rich.table import Table

    from bnnbo.plan import format_seconds

    t = Table("#", "study", "runs left", "evaluations", "fits", "est. wall", "cumulative", "note", title=title)
    total = 0.0
    for i, (e, p) in enumerate(rows, 1):
        total += 0.0 if e.skip else p.wall_seconds
        bound = "" if p.complete else ">= "
        left = sum(c.runs - c.finished for c in p.cells)
        t.add_row(
            str(i),
            e.study.name,
            str(left),
            str(p.evaluations),
            str(p.fits),
            bound + format_seconds(p.wall_seconds),
            format_seconds(total),
            "skip: " + e.reason if e.skip else "; ".join(x for x in (e.reason, _approx(p), _changed(p)) if x),
        )
    return t


def _approx(plan) -> str:
    from bnnbo.plan import MEASURED

    n = sum(1 for c in plan.cells if c.evaluations and c.cost_source not in MEASURED)
    return f"{n} cell(s) with borrowed or no costs" if n else ""


def _changed(plan) -> str:
    """Stored runs that do not match the study now (settings, or a problem's identity such as
    nndraw's weights file): counted from zero, and ``run`` refuses them without --force-new."""
    n = sum(c.changed for c in plan.cells)
    return f"{n} stored run(s) with other settings or problem data, counted from zero" if n else ""


def left_note(plan, workers: int) -> str:
    """What an unfinished study has left, by the plan's estimate, for the manifest's reason."""
    from bnnbo.plan import format_seconds

    if not plan.evaluations:
        return ""
    bound = "" if plan.complete else "at least "
    notes = [x for x in (_approx(plan), _changed(plan)) if x]
    return (
        f"not finished: {plan.evaluations} evaluations left, estimated {bound}{format_seconds(plan.wall_seconds)} "
        f"with {workers} worker(s) on this machine" + (f" ({'; '.join(notes)})" if notes else "")
    )


def stored_code(store, study: str) -> list[str]:
    """The code each of ``study``'s stored evaluations was made with (``runner.CODE_KEY`` in its
    diagnostics), in the order it first ran; evaluations stored before the key existed add none."""
    from bnnbo.runner import CODE_KEY

    ids = [r.id for r in store.runs(store.study_id(study), include_superseded=False)]
    rows = sorted(store.evaluation_rows(["created_at", "diagnostics"], ids), key=lambda r: r.created_at)
    return list(dict.fromkeys(d[CODE_KEY] for _, d in rows if isinstance(d, dict) and isinstance(d.get(CODE_KEY), str)))


def manifest_entry(e: Entry, store_url, status_note: str = "") -> dict[str, Any]:
    """The study's line in the manifest; ``code``: the commits its stored evaluations were made
    with (``write_manifest`` keeps those recorded by earlier exports)."""
    from bnnbo.results import load_runs
    from bnnbo.storage import Store

    runs, code = None, []
    with Store(store_url, create=False) as store:
        if store.study_id(e.study.name) is not None:
            runs = load_runs(store, e.study.name)
            code = stored_code(store, e.study.name)
    full_budget = {p["label"]: p["n_init"] + p["q"] * p["iterations"] for p in e.full.problems}
    budget = {p["label"]: p["n_init"] + p["q"] * p["iterations"] for p in e.study.problems}
    counts = runs.status.value_counts().to_dict() if runs is not None else {}
    planned = len(e.study.cells())
    shortened = (
        budget != full_budget
        or len(e.study.seeds) < len(e.full.seeds)
        or len(e.study.surrogates) < len(e.full.surrogates)
    )
    finished = int(counts.get("finished", 0))
    started = any(k != "pending" for k in counts)  # runs with stored steps, none finished yet
    status = (
        ("complete" if finished >= planned and not shortened else "partial")
        if finished
        else "started"
        if started and not e.skip
        else "not run"
    )
    return {
        "study": e.study.name,
        "file": e.file,
        "status": status,
        "seeds": list(e.study.seeds),
        "surrogates": [s["label"] for s in e.study.surrogates],
        "budget": max(budget.values()),
        "paper_budget": max(full_budget.values()),
        "study_seeds": list(e.full.seeds),
        "study_surrogates": [s["label"] for s in e.full.surrogates],
        "runs": {k: int(v) for k, v in counts.items()},
        "planned_runs": planned,
        "reason": "; ".join(x for x in (e.reason, status_note) if x),
        "code": code,
    }


def write_manifest(folder: Path, entries: list[dict[str, Any]]) -> Path:
    path = folder / "manifest.json"
    old = json.loads(path.read_text()).get("configurations", []) if path.exists() else []
    by_study = {x["study"]: x for x in old}
    for x in entries:  # the code lists accumulate: a study resumed by other code says so
        before = by_study.get(x["study"], {}).get("code", [])
        by_study[x["study"]] = {**x, "code": before + [c for c in x.get("code", []) if c not in before]}
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"configurations": list(by_study.values())}, indent=1) + "\n")
    tmp.replace(path)
    return path


def export_study(e: Entry, db, folder: Path, note: str = "") -> bool:
    """Export the study and its manifest entry; False (both left as they are) when the store does
    not hold the study but the folder has its export: that came from another store."""
    from bnnbo.results import export_results
    from bnnbo.storage import Store

    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{e.study.name}.parquet"
    with Store(db) as store:  # an empty store when nothing has run yet: the manifest says so
        if store.study_id(e.study.name) is not None:
            export_results(target, store, study=e.study.name)
        elif target.exists():
            return False
    write_manifest(folder, [manifest_entry(e, db, note)])
    return True


def run_campaign(
    entries: list[Entry],
    db,
    results: Path,
    workers: int | None,
    max_hours: float | None,
    console,
    force_new: bool = False,
) -> int:
    from bnnbo.executors import make_executor
    from bnnbo.plan import format_seconds
    from bnnbo.progress import RichProgress
    from bnnbo.runner import check_settings, run_study, sigterm_as_interrupt
    from bnnbo.storage import Store

    if not force_new:  # every study's stored runs checked before the first one runs for hours
        with Store(db) as store:
            for e in entries:
                if not e.skip:
                    check_settings(store, e.study)
    rows = ordered(entries, db, workers or 1)
    console.print(plan_table(rows, "campaign order"))
    code = 0
    for e, p in rows:
        if e.skip:
            export_study(e, db, results)
            continue
        if max_hours is not None and (not p.complete or p.wall_seconds > max_hours * 3600):
            est = "unknown" if not p.complete else format_seconds(p.wall_seconds)
            console.print(f"[yellow]left for later[/yellow] {e.study.name}: estimate {est} > --max-hours {max_hours}")
            export_study(e, db, results, f"not run yet: estimated {est} on this machine")
            continue
        console.print(
            f"[bold]{e.study.name}[/bold]: {p.evaluations} evaluations left, estimate {format_seconds(p.wall_seconds)}",
            highlight=False,
        )
        with Store(db) as store:
            executor = make_executor(workers, None, None)
            try:
                with sigterm_as_interrupt():
                    outcome = run_study(e.study, store, executor, RichProgress(console), force_new=force_new)
            finally:
                executor.close()
        export_study(e, db, results)
        if outcome.interrupted:
            console.print("interrupted: run the same command again to resume")
            return 130
        if outcome.failed:
            code = 1
    console.print(f"results and manifest in {results}")
    return code


def main(argv: list[str] | None = None) -> int:
    from rich.console import Console

    from bnnbo.storage import Store

    console = Console()
    p = argparse.ArgumentParser(prog="python -m bnnbo.campaign", description=__doc__.splitlines()[0])
    p.add_argument("action", choices=["plan", "run", "export"])
    p.add_argument("campaign", nargs="?", default=DEFAULT_FILE)
    p.add_argument("--db", required=True, help="the campaign's store (SQLite file or SQLAlchemy URL)")
    p.add_argument("--workers", type=int, default=None, help="local Dask workers per study")
    p.add_argument("--max-hours", type=float, default=None, help="leave studies estimated longer for later")
    p.add_argument("--only", nargs="*", default=None, help="only these studies (by name)")
    p.add_argument("--results", default=None, help="export folder (default: the campaign file's)")
    p.add_argument(
        "--force-new",
        action="store_true",
        help="start again the runs stored with other settings (kept, marked superseded); use with --only",
    )
    args = p.parse_args(argv)
    try:
        entries, results = load_campaign(args.campaign)
        if args.results:
            results = Path(args.results)
        if args.only:
            missing = set(args.only) - {e.study.name for e in entries}
            if missing:
                raise ConfigError(
                    f"--only {sorted(missing)}: not in the campaign; studies: "
                    + ", ".join(e.study.name for e in entries)
                )
            entries = [e for e in entries if e.study.name in args.only]
        if args.action == "plan":
            console.print(plan_table(ordered(entries, args.db, args.workers or 1), "campaign plan"))
            return 0
        if args.action == "export":
            Store(args.db, create=False).close()  # a mistyped --db: an error, not an empty manifest
            workers = args.workers or 1
            kept = [
                e.study.name
                for e, plan in ordered(entries, args.db, workers)
                if not export_study(e, args.db, results, "" if e.skip else left_note(plan, workers))
            ]
            console.print(f"exported {len(entries) - len(kept)} studies and the manifest to {results}")
            if kept:
                console.print(
                    f"[yellow]kept[/yellow] {', '.join(kept)}: exported in {results} but not in this store "
                    "(their files and manifest entries are left as they are)",
                    highlight=False,
                )
            return 0
        return run_campaign(entries, args.db, results, args.workers, args.max_hours, console, args.force_new)
    except BnnboError as exc:
        console.print(f"[red]error:[/red] {exc}", highlight=False)
        return 2
    except KeyboardInterrupt:
        console.print("interrupted: run the same command again to resume")
        return 130


if __name__ == "__main__":
    sys.exit(main())
