"""Command line: ``bnnbo <command>``; one small function per sub-command, returning an exit code.

Sub-commands register themselves with ``@command(name, help)`` and an ``add_arguments``
function; the parser is built from that table.
"""

from __future__ import annotations

import argparse
import sys
from typing import Callable

from rich.console import Console
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
    import tomllib

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
    from bnnbo.problems import PROBLEMS, get_problem, problem_options

    table = Table("problem", "d", "objectives", "optimum / ref point", "options", title="problems")
    for name in PROBLEMS:
        try:
            p = get_problem(name)
        except BnnboError as exc:
            table.add_row(name, "-", "-", f"unavailable: {exc}", "")
            continue
        known = p.optimal_value if p.num_objectives == 1 else (p.ref_point.tolist() if p.ref_point is not None else None)
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


@command("optimize", "run BO on one problem with one surrogate and show the best point", _optimize_args)
def cmd_optimize(args: argparse.Namespace) -> int:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from bnnbo.optimizer import optimize
    from bnnbo.problems import get_problem

    from bnnbo.surrogates import get_surrogate

    problem = get_problem(args.problem, **parse_assignments(args.option))
    surrogate = get_surrogate(args.surrogate, **parse_assignments(args.set))
    pb = problem.paper_budget or {}
    budget = args.budget or (pb["n_init"] + pb["q"] * pb["iterations"] if pb else 50)
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("{task.fields[best]}"), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task(f"{problem.name} / {args.surrogate}", total=budget, best="")

        def update(opt, X, Y):
            Ym = opt.to_max(opt.Y)
            best = f"best {Ym.max():.6g}" if Ym.shape[-1] == 1 else f"{opt.n_told} evaluated"
            progress.update(task, completed=opt.n_told, best=best)

        result = optimize(
            problem, surrogate=surrogate, budget=budget, seed=args.seed, q=args.q,
            n_init=args.n_init, acquisition=args.acquisition, callback=update,
        )
    _print_result(result, problem)
    return 0


def _print_result(result, problem) -> None:
    fit = sum(result.fit_seconds) / max(len(result.fit_seconds), 1)
    acq = sum(result.acq_seconds) / max(len(result.acq_seconds), 1)
    if result.Y.shape[-1] == 1:
        point = ", ".join(f"{k}={v:.6g}" if isinstance(v, float) else f"{k}={v}"
                          for k, v in problem.space.to_dicts(result.best_x.unsqueeze(0))[0].items())
        console.print(f"best value {result.best_value:.6g} at {point}")
        if problem.optimal_value is not None:
            console.print(f"optimum {problem.optimal_value:.6g}; regret {problem.optimal_value - result.best_value:.4g}")
    else:
        console.print(f"dominated hypervolume {float(result.trace[-1]):.6g}"
                      + (f" (max {problem.max_hv:.6g})" if problem.max_hv else ""))
    console.print(f"{len(result.Y)} evaluations; mean fit {fit:.3f} s, mean acquisition {acq:.3f} s per iteration")


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
        err_console.print(f"[red]error:[/red] {exc}")
        return 2
    except KeyboardInterrupt:
        err_console.print("interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
