"""Command line: ``bnnbo <command>``; one small function per sub-command, returning an exit code.

Sub-commands register themselves with ``@command(name, help)`` and an ``add_arguments``
function; the parser is built from that table.
"""

from __future__ import annotations

import argparse
import sys
from typing import Callable

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from bnnbo.errors import BnnboError

console = Console()
err_console = Console(stderr=True)

_COMMANDS: dict[str, tuple[str, Callable, Callable]] = {}


def command(name: str, help: str, arguments: Callable[[argparse.ArgumentParser], None] = lambda p: None):
    """Register ``fn(args) -> int`` as sub-command ``name``."""

    def register(fn: Callable[[argparse.Namespace], int]):
        _COMMANDS[name] = (help, arguments, fn)
        return fn

    return register


def parse_assignments(items: list[str] | None) -> dict[str, object]:
    """``["a=1", "b=true", "c=[1,2]"]`` -> values parsed as TOML literals (bare words as strings)."""
    from bnnbo._compat import tomllib

    out: dict[str, object] = {}
    for item in items or []:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise BnnboError(f"--set {item!r}: expected key=value")
        try:
            out[key.strip()] = tomllib.loads(f"v = {raw.strip()}")["v"]
        except tomllib.TOMLDecodeError:
            out[key.strip()] = raw.strip()
    return out


# ---- problems / surrogates ---------------------------------------------------------------------
@command("problems", "list the registered problems")
def cmd_problems(args: argparse.Namespace) -> int:
    from bnnbo.problems import PROBLEMS, problem_info, problem_options

    table = Table("problem", "d", "objectives", "optimum / ref point", "options", title="problems")
    for name in PROBLEMS:
        try:
            p = problem_info(name)
        except BnnboError as exc:
            table.add_row(name, "-", "-", f"unavailable: {exc}", "")
            continue
        known = (
            p.optimal_value if p.num_objectives == 1 else (p.ref_point.tolist() if p.ref_point is not None else None)
        )
        opts = ", ".join(f"{k}={v}" for k, v in problem_options(name).items())
        table.add_row(name, str(p.dim), str(p.num_objectives), "-" if known is None else str(known), opts)
    console.print(table)
    return 0


@command("surrogates", "list the registered surrogates with their settings and defaults")
def cmd_surrogates(args: argparse.Namespace) -> int:
    from bnnbo.surrogates import SURROGATES, surrogate_class

    table = Table("surrogate", "settings (defaults)", "presets", title="surrogates")
    for name in SURROGATES:
        cls = surrogate_class(name)
        settings = "\n".join(f"{k} = {v!r}" for k, v in cls.Settings.defaults().items())
        table.add_row(name, settings, ", ".join(cls.presets) or "-")
    console.print(table)
    return 0


# ---- optimize ----------------------------------------------------------------------------------
def _optimize_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--problem", required=True, help="registered problem name (see `bnnbo problems`)")
    p.add_argument("--surrogate", default="gp", help="registered surrogate (see `bnnbo surrogates`)")
    p.add_argument("--budget", type=int, default=None, help="total evaluations (default: the study's)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--q", type=int, default=None, help="points per iteration")
    p.add_argument("--n-init", type=int, default=None, help="initial design size")
    p.add_argument("--acquisition", default="default", choices=["default", "paper"])
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="surrogate setting override")
    p.add_argument("--option", action="append", metavar="KEY=VALUE", help="problem option")
    _threads_arg(p)


@command("optimize", "run BO on one problem with one surrogate and show the best point", _optimize_args)
def cmd_optimize(args: argparse.Namespace) -> int:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from bnnbo.executors import default_threads, requested_threads, set_threads
    from bnnbo.driver import optimize
    from bnnbo.problems import get_problem
    from bnnbo.surrogates import get_surrogate

    set_threads(requested_threads(args.threads) or default_threads())
    problem = get_problem(args.problem, **parse_assignments(args.option))
    surrogate = get_surrogate(args.surrogate, **parse_assignments(args.set))
    pb = problem.paper_budget or {}
    if args.budget is not None:  # 0 is a value (refused by optimize), not "the default"
        budget = args.budget
    else:
        budget = pb["n_init"] + pb["q"] * pb["iterations"] if pb else 50
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[best]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task(f"{problem.name} / {args.surrogate}", total=budget, best="")

        def update(opt, X, Y):
            Ym = opt.to_max(opt.Y)
            best = f"best {Ym.max():.6g}" if Ym.shape[-1] == 1 else f"{opt.n_told} evaluated"
            progress.update(task, completed=opt.n_told, best=best)

        result = optimize(
            problem,
            surrogate=surrogate,
            budget=budget,
            seed=args.seed,
            q=args.q,
            n_init=args.n_init,
            acquisition=args.acquisition,
            callback=update,
        )
    _print_result(result, problem)
    return 0


def _print_result(result, problem) -> None:
    fit = sum(result.fit_seconds) / max(len(result.fit_seconds), 1)
    acq = sum(result.acq_seconds) / max(len(result.acq_seconds), 1)
    if result.Y.shape[-1] == 1:
        point = ", ".join(
            f"{k}={v:.6g}" if isinstance(v, float) else f"{k}={v}"
            for k, v in problem.space.to_dicts(result.best_x.unsqueeze(0))[0].items()
        )
        console.print(f"best value {result.best_value:.6g} at {point}")
        if problem.optimal_value is not None:
            console.print(
                f"optimum {problem.optimal_value:.6g}; regret {problem.optimal_value - result.best_value:.4g}"
            )
    else:
        console.print(
            f"dominated hypervolume {float(result.trace[-1]):.6g}"
            + (f" (max {problem.max_hv:.6g})" if problem.max_hv else "")
        )
    console.print(f"{len(result.Y)} evaluations; mean fit {fit:.3f} s, mean acquisition {acq:.3f} s per iteration")


# ---- assess ------------------------------------------------------------------------------------
def _assess_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--problem", required=True, help="registered problem name")
    p.add_argument("--surrogates", default="gp,ibnn", help="comma-separated surrogates (name or name/label)")
    p.add_argument("--n", type=int, default=100, help="training points (scrambled Sobol)")
    p.add_argument("--m", type=int, default=1000, help="test points (uniform)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--set", action="append", metavar="LABEL.KEY=VALUE", help="a surrogate's setting")
    p.add_argument("--option", action="append", metavar="KEY=VALUE", help="problem option")
    p.add_argument("--plot", default=None, metavar="PATH", help="write the calibration plot here")
    p.add_argument("--markdown", default=None, metavar="PATH", help="write the table as markdown here")
    p.add_argument("--workers", type=int, default=1, help="fit the surrogates in this many processes")


@command("assess", "held-out NLL, RMSE and calibration of surrogates on one problem", _assess_args)
def cmd_assess(args: argparse.Namespace) -> int:
    from bnnbo.assess import (
        HEADER,
        assess,
        check_plot_path,
        check_sizes,
        plot_calibration,
        table_rows,
        to_markdown,
    )
    from bnnbo.executors import check_workers
    from bnnbo.outputs import check_output_file
    from bnnbo.problems import get_problem

    # every check before the fits: a bad path must not cost the whole computation
    if args.plot:
        check_plot_path(args.plot)
    if args.markdown:
        check_output_file(args.markdown, "markdown file")
    check_sizes(args.n, args.m)
    check_workers(args.workers)
    labels = [s.strip() for s in args.surrogates.split(",") if s.strip()]
    settings: dict[str, dict[str, object]] = {}
    for key, value in parse_assignments(args.set).items():
        label, dot, field = key.rpartition(".")
        if not dot:
            raise BnnboError(f"--set {key}=...: expected LABEL.KEY=VALUE, e.g. dkl.train_steps=500")
        settings.setdefault(label, {})[field] = value
    problem = get_problem(args.problem, **parse_assignments(args.option))
    with console.status(f"fitting {len(labels)} surrogate(s) on {args.n} points of {problem.name}"):
        results = assess(problem, labels, n=args.n, m=args.m, seed=args.seed, settings=settings, workers=args.workers)
    table = Table(*HEADER, title=f"{problem.name}: n={args.n} train, m={args.m} test, seed {args.seed}")
    for row in table_rows(results):
        table.add_row(*row)
    console.print(table)
    if args.plot:
        plot_calibration(results, args.plot, title=f"{problem.name}, n={args.n}")
        console.print(f"calibration plot: {args.plot}")
    if args.markdown:
        try:
            with open(args.markdown, "w") as fh:
                fh.write(to_markdown(results) + "\n")
        except OSError as exc:
            raise BnnboError(f"cannot write {args.markdown!r}: {exc.strerror or exc}") from None
    return 1 if any(r.error for r in results) else 0


# ---- studies: run / demo / status / export -----------------------------------------------------
def _db_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--db", default=None, metavar="URL", help="SQLAlchemy URL or SQLite file (default: $BNNBO_DB, else ./bnnbo.db)"
    )


def _threads_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--threads",
        type=int,
        metavar="N",
        help="torch threads per process (default: $BNNBO_THREADS, else $OMP_NUM_THREADS, "
        "else 1: the fits are small; use --workers for more cores)",
    )


def _run_args(p: argparse.ArgumentParser, study: bool = True) -> None:
    if study:
        p.add_argument("study", help="study file (TOML); run it again to resume")
    _db_arg(p)
    where = p.add_mutually_exclusive_group()
    where.add_argument("--workers", type=int, metavar="N", help="run on a local Dask cluster of N processes")
    where.add_argument("--scheduler", metavar="ADDRESS", help="run on an existing Dask cluster (tcp://host:port)")
    _threads_arg(p)
    p.add_argument(
        "--force-new",
        action="store_true",
        help="start runs whose settings changed again (old runs are kept as superseded)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bars or tables; a summary line only")
    if study:
        p.add_argument(
            "--plan",
            action="store_true",
            help="print the work left and its estimated time (see `bnnbo plan`), run nothing",
        )


@command("run", "run or resume a study: every problem x surrogate x seed, each evaluation stored", _run_args)
def cmd_run(args: argparse.Namespace) -> int:
    from bnnbo.study import load_study

    if args.plan:
        return _print_plan(load_study(args.study), args)
    return _run_study(load_study(args.study), args)


@command(
    "demo",
    "run the demo study (Branin, Hartmann6; GP, I-BNN, BNNs) and rank the surrogates "
    "(default: a local Dask worker per core, up to 4)",
    lambda p: _run_args(p, study=False),
)
def cmd_demo(args: argparse.Namespace) -> int:
    from importlib.resources import files

    from bnnbo.executors import available_cores
    from bnnbo.study import parse_study

    if args.workers is None and not args.scheduler and available_cores() > 1:
        # many small fits: a single-threaded worker per core beats threads inside each fit
        args.workers = min(available_cores(), 4)
    args.force_new = True  # a newer bnnbo may change demo settings: rerun those cells, don't refuse
    text = (files("bnnbo") / "configs" / "demo.toml").read_text()
    study = parse_study(text, source="configs/demo.toml")
    from bnnbo.outputs import check_output_dir
    from bnnbo.report.writer import default_out

    check_output_dir(default_out(study.name), "report folder")  # before the runs, not after
    code = _run_study(study, args)
    from bnnbo.report import write_report  # the report shows failed and unfinished runs too

    path = write_report(args.db, study.name)
    console.print(f"report: {escape(str(path.resolve()))}", soft_wrap=True, highlight=False)
    return code


def check_persistent(url) -> None:
    """``run`` and ``demo`` promise stored results: refuse a store that lives in memory only."""
    from bnnbo.storage import is_memory_url, resolve_url

    resolved = resolve_url(url)
    if is_memory_url(resolved):
        raise BnnboError(
            f"store URL {resolved!r} is an in-memory database: every result would be lost "
            "when the run ends; expected a file path or a database server URL"
        )


def _run_study(study, args: argparse.Namespace) -> int:
    from bnnbo.executors import make_executor
    from bnnbo.progress import NullProgress, RichProgress
    from bnnbo.runner import run_study, sigterm_as_interrupt
    from bnnbo.storage import Store

    check_persistent(args.db)
    executor = make_executor(args.workers, args.scheduler, args.threads)  # checks its arguments, starts nothing
    with Store(args.db) as store:
        progress = NullProgress() if args.quiet else RichProgress(console)
        try:
            with sigterm_as_interrupt():
                outcome = run_study(study, store, executor, progress, force_new=args.force_new)
        finally:
            executor.close()
        _report_outcome(outcome, store, args.quiet)
    return 0 if outcome.ok else (130 if outcome.interrupted else 1)


def _report_outcome(outcome, store, quiet: bool) -> None:
    from bnnbo.progress import ranking_tables
    from bnnbo.results import summarize

    if not quiet:
        for table in ranking_tables(summarize(store, outcome.study, outcome.run_ids)):
            console.print(table)
    for spec, error in outcome.failed:  # soft_wrap: one line per failure, for logs and grep
        cell = f"{spec.problem} / {spec.surrogate} / seed {spec.seed}"
        err_console.print(f"[red]failed[/red] {cell}: {escape(error)}", soft_wrap=True, highlight=False)
    state = "interrupted; run the same command again to resume" if outcome.interrupted else "done"
    console.print(
        f"study {outcome.study!r} {state}: {outcome.finished} run(s) finished now, "
        f"{outcome.skipped} already finished, {len(outcome.failed)} failed; "
        f"store {escape(store.url)}",
        soft_wrap=True,
        highlight=False,
    )


def _status_args(p: argparse.ArgumentParser) -> None:
    _db_arg(p)
    p.add_argument("--study", default=None, help="only this study")
    p.add_argument(
        "--stale-after",
        type=float,
        default=None,
        metavar="SECONDS",
        help="show a running run whose driver sent no heartbeat for this long as interrupted "
        "(default: $BNNBO_STALE_SECONDS, else 60)",
    )


@command("status", "list the studies in a store and the state of their runs", _status_args)
def cmd_status(args: argparse.Namespace) -> int:
    from bnnbo.results import load_runs
    from bnnbo.storage import Store

    with Store(args.db, create=False) as store:
        studies = [s for s in store.studies(args.stale_after) if args.study in (None, s["name"])]
        runs = load_runs(store, args.study, stale_after=args.stale_after)
    table = Table(
        "study",
        "runs",
        "finished",
        "running",
        "failed",
        "interrupted",
        "pending",
        "updated",
        title=f"studies in {store.url}",
    )
    for s in studies:
        c = s["runs"]
        table.add_row(
            s["name"],
            str(sum(v for k, v in c.items() if k != "superseded")),
            *(str(c.get(k, 0)) for k in ("finished", "running", "failed", "interrupted", "pending")),
            f"{s['updated_at']:%Y-%m-%d %H:%M}",
        )
    console.print(table)
    for name, rows in runs.groupby("study", sort=False):
        t = Table("problem", "surrogate", "seed", "status", "evaluations", "best", "error", title=f"runs of {name}")
        for _, r in rows.iterrows():
            best = "-" if r.best is None or r.best != r.best else f"{r.best:.6g}"
            # pandas turns a missing error into NaN (a float, and truthy) once another run has one
            error = r.error if isinstance(r.error, str) else ""
            shown = "interrupted (resumable)" if r.status == "interrupted" else r.status
            t.add_row(r.problem, r.surrogate, str(r.seed), shown, f"{r.n_evaluations}/{r.budget}", best, error[:80])
        console.print(t)
    return 0


def _export_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("output", help="file to write: .csv or .parquet")
    _db_arg(p)
    p.add_argument("--study", default=None, help="only this study (default: all)")
    p.add_argument("--format", choices=["csv", "parquet"], default=None, help="default: from the file suffix")


@command("export", "write every evaluation (with run labels and the best-so-far trace) to CSV or Parquet", _export_args)
def cmd_export(args: argparse.Namespace) -> int:
    from bnnbo.results import export_results

    path = export_results(args.output, args.db, study=args.study, fmt=args.format)
    console.print(f"wrote {path}")
    return 0


# ---- plan --------------------------------------------------------------------------------------
def _plan_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("study", help="study file (TOML)")
    _db_arg(p)
    p.add_argument("--workers", type=int, default=1, metavar="N", help="worker processes the run would use")
    p.add_argument("--costs", default=None, metavar="FILE", help="cost table (default: the measured one shipped)")


@command(
    "plan",
    "count the evaluations, fits and acquisitions a study has left and estimate its time "
    "(runs nothing, writes nothing)",
    _plan_args,
)
def cmd_plan(args: argparse.Namespace) -> int:
    from bnnbo.study import load_study

    return _print_plan(load_study(args.study), args)


def _print_plan(study, args: argparse.Namespace) -> int:
    from bnnbo.plan import CostTable, plan_study, plan_table
    from bnnbo.storage import resolve_url

    costs = CostTable.load(getattr(args, "costs", None))
    plan = plan_study(
        study, resolve_url(args.db), costs, workers=args.workers or 1, force_new=getattr(args, "force_new", False)
    )
    console.print(plan_table(plan))
    for note in plan.notes:
        console.print(f"note: {escape(note)}", soft_wrap=True, highlight=False)
    return 0


# ---- report ------------------------------------------------------------------------------------
def _report_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "exports",
        nargs="*",
        metavar="EXPORT",
        help="exported results (`bnnbo export`: .parquet / .csv files or folders of them) instead of a store",
    )
    _db_arg(p)
    p.add_argument("--study", default=None, help="the study (default: the most recently updated one)")
    p.add_argument("--out", default=None, metavar="DIR", help="folder to write (default: bnnbo-report/<study>)")


@command("report", "write plots, tables and one self-contained HTML report of a stored or exported study", _report_args)
def cmd_report(args: argparse.Namespace) -> int:
    from bnnbo.report import write_report

    if args.exports and args.db:
        raise BnnboError("give exported files or --db, not both")
    path = write_report(args.exports or args.db, args.study, args.out)
    console.print(f"report: {escape(str(path.resolve()))}", soft_wrap=True, highlight=False)
    return 0


# ---- dashboard ---------------------------------------------------------------------------------
def _dashboard_args(p: argparse.ArgumentParser) -> None:
    _db_arg(p)
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1, this machine only)")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument(
        "--refresh",
        type=float,
        default=5.0,
        metavar="SECONDS",
        help="seconds between the pages' live updates (0: none)",
    )


@command(
    "dashboard",
    "serve a live, read-only web view of the store's studies and runs (needs bnnbo[dashboard])",
    _dashboard_args,
)
def cmd_dashboard(args: argparse.Namespace) -> int:
    from bnnbo.dashboard import serve

    serve(
        args.db,
        args.host,
        args.port,
        args.refresh,
        say=lambda text: console.print(text, soft_wrap=True, highlight=False, markup=False),
    )
    return 0


# ---- entry point -------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bnnbo", description="Bayesian optimization with interchangeable surrogates")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (help_, arguments, fn) in _COMMANDS.items():
        p = sub.add_parser(name, help=help_, description=help_)
        arguments(p)
        p.set_defaults(func=fn)
    return parser


def main(argv: list[str] | None = None) -> int:
    import warnings

    warnings.filterwarnings("ignore", message=".*qExpected.*numerical issues.*")
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except BnnboError as exc:
        err_console.print(f"[red]error:[/red] {escape(str(exc))}")  # messages hold [table] names
        return 2
    except Exception as exc:
        # the store failed after it was opened (locked, read-only, damaged): one line, no traceback
        sa = sys.modules.get("sqlalchemy.exc")
        if sa is None or not isinstance(exc, sa.DBAPIError):
            raise
        from bnnbo.storage import explain_db_error

        err_console.print(f"[red]error:[/red] {escape(explain_db_error(exc))}")
        return 2
    except KeyboardInterrupt:
        err_console.print("interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
