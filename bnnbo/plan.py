"""What a study will cost before it runs: ``plan_study`` counts the work left per problem x
surrogate and estimates its wall time from measured costs (``bnnbo/data/costs.json``).

Counts follow the runner exactly: a run of budget ``B = n_init + q * iterations`` with ``n``
evaluations stored does one initial-design step (no model) while ``n < n_init``, then one model
step per ``q`` points until ``B``; every model step is one surrogate fit and one acquisition
optimisation. Stored runs whose settings changed count from zero (``--force-new`` restarts them).

Cost model, per cell (surrogate settings x problem dimension/objectives x acquisition x q), from
``benchmarks/plan_costs.py`` which times the runner's own unit of work (``run_step``):

- fit seconds at ``n`` training points: ``a * n**b`` through the measured points, separately for
  the first fit of a run (cold: no surrogate state) and later ones (warm-started, e.g. HMC's
  shorter burn-in); acquisition seconds likewise from every measured point (constant when only
  one cold/warm pair was measured, as ``plan_costs.py --only-low`` does);
- plus per step a fixed overhead (rebuilding the optimiser, state (un)pickling) and the
  problem's seconds per evaluation times the points evaluated.

With a store, a cell whose runs already took model steps under today's settings is costed from
those steps' own recorded fit / acquisition seconds instead (``stored_costs``: the machine and
load the study actually runs under; source "stored runs"), and ``plan_costs.py --from-store``
writes such cells into the table for other studies to borrow.

A cell without its own measurement borrows the nearest measured one of the same surrogate
(same settings first, then any) and is marked approximate; with none, its time is unknown and
the total is a lower bound. Wall time with ``W`` workers: ``max(total / W, longest run)``.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Any

from bnnbo.errors import ConfigError
from bnnbo.study import RunSpec, Study

COSTS_FILE = "data/costs.json"
STORED = "stored runs"  # a cell costed from its own stored steps
MEASURED = ("measured", STORED)


def settings_key(resolved: dict[str, Any]) -> str:
    """A short fingerprint of a surrogate's resolved settings (cost table key)."""
    text = json.dumps(resolved, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def problem_key(name: str, options: dict[str, Any]) -> str:
    return name + (json.dumps(options, sort_keys=True) if options else "")


# ---- counting --------------------------------------------------------------------------------
@dataclass
class RunWork:
    """The work one run has left: evaluations, and the sizes ``n`` of the model steps to come."""

    evaluations: int
    initial: int  # initial-design points still to evaluate (one step if > 0)
    fit_sizes: list[int]  # training-set size at each model step left
    cold_first: bool  # the first model step fits from scratch (no stored state)

    @property
    def fits(self) -> int:
        return len(self.fit_sizes)


def run_work(spec: RunSpec, stored: int = 0, has_state: bool | None = None) -> RunWork:
    """Steps left for ``spec`` with ``stored`` evaluations already in the store."""
    budget = spec.budget
    n = min(max(stored, 0), budget)
    initial = max(spec.n_init - n, 0) if n < budget else 0
    sizes, m = [], max(n, spec.n_init)
    while m < budget:
        sizes.append(m)
        m += min(spec.q, budget - m)
    cold = not (has_state if has_state is not None else n > spec.n_init)
    return RunWork(budget - n, min(initial, budget - n), sizes, cold)


# ---- costs -----------------------------------------------------------------------------------
def power_law(points: list[tuple[float, float]]):
    """``n -> a * n**b`` through (n, seconds) points (least squares in log-log); one point or
    equal n: the mean, constant. b is kept in [0, 3] (nothing here gets cheaper with more data)."""
    pts = [(float(n), max(float(s), 1e-6)) for n, s in points if n > 0]
    if not pts:
        return None
    xs, ys = [math.log(n) for n, _ in pts], [math.log(s) for _, s in pts]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    b = 0.0 if sxx < 1e-12 else sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx
    b = min(max(b, 0.0), 3.0)
    a = math.exp(my - b * mx)
    return lambda n: a * max(n, 1) ** b


@dataclass
class CellCost:
    """Measured costs of one cell, as the table stores them."""

    entry: dict[str, Any]

    def __post_init__(self):
        pts = self.entry.get("points", [])
        self._cold = power_law([(p["n"], p["fit"]) for p in pts if p.get("cold")])
        self._warm = power_law([(p["n"], p["fit"]) for p in pts if not p.get("cold")])
        # one cold/warm pair (``--only-low``): two nearby sizes cannot tell growth from noise
        self._acq = power_law([(1 if len(pts) <= 2 else p["n"], p["acq"]) for p in pts])
        self.overhead = float(self.entry.get("overhead", 0.0))

    def fit(self, n: int, cold: bool) -> float:
        f = (self._cold if cold else self._warm) or self._warm or self._cold
        return f(n) if f else 0.0

    def acq(self, n: int) -> float:
        return self._acq(n) if self._acq else 0.0


class CostTable:
    """``bnnbo/data/costs.json`` (or another file): measured costs of cells and evaluations."""

    def __init__(self, data: dict[str, Any], source: str = COSTS_FILE):
        if not isinstance(data, dict) or not isinstance(data.get("cells", []), list):
            raise ConfigError(f"cost table {source}: expected a JSON object with a 'cells' list")
        self.data, self.source = data, source
        self.cells = data.get("cells", [])
        self.evaluations: dict[str, float] = data.get("evaluations", {})

    @classmethod
    def load(cls, path: str | os.PathLike | None = None) -> CostTable:
        if path is None:
            text, source = (files("bnnbo") / COSTS_FILE).read_text(), f"bnnbo/{COSTS_FILE}"
        else:
            try:
                text, source = Path(path).read_text(), str(path)
            except OSError as exc:
                raise ConfigError(f"cannot read the cost table {str(path)!r}: {exc.strerror}") from None
        try:
            return cls(json.loads(text), source)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"cost table {source} is not valid JSON: {exc}") from None

    @staticmethod
    def cell_key(spec: RunSpec, dim: int, objectives: int) -> dict[str, Any]:
        return {
            "surrogate": spec.surrogate_name,
            "settings": settings_key(spec.resolved_settings),
            "acquisition": spec.acquisition,
            "acq_optimizer": spec.acq_optimizer,
            "dim": dim,
            "objectives": objectives,
            "q": spec.q,
        }

    def lookup(self, key: dict[str, Any]) -> tuple[CellCost | None, str]:
        """The cell's costs and how they were found: 'measured', 'approx. (...)' or 'none'."""
        same = [c for c in self.cells if all(c.get(k) == v for k, v in key.items())]
        if same:
            return CellCost(same[0]), "measured"
        for fields, why in (
            (("surrogate", "settings", "acquisition", "objectives"), "same settings"),
            (("surrogate", "settings"), "same settings"),
            (("surrogate",), "other settings"),
        ):
            near = [c for c in self.cells if all(c.get(k) == key[k] for k in fields)]
            if near:
                best = min(
                    near,
                    key=lambda c: (
                        abs(math.log(max(c.get("dim", 1), 1) / max(key["dim"], 1))),
                        abs(c.get("q", 1) - key["q"]),
                    ),
                )
                return CellCost(best), f"approx. ({why}, d={best.get('dim')}, q={best.get('q')})"
        return None, "none"

    def eval_seconds(self, name: str, options: dict[str, Any]) -> float | None:
        return self.evaluations.get(problem_key(name, options))


# ---- the plan ----------------------------------------------------------------------------------
@dataclass
class CellPlan:
    problem: str
    surrogate: str
    runs: int = 0
    finished: int = 0
    evaluations: int = 0
    fits: int = 0
    acquisitions: int = 0
    seconds: float | None = 0.0  # None: no measured cost for this cell
    longest_run: float = 0.0
    cost_source: str = "measured"  # or STORED, "approx. (...)", "none"
    changed: int = 0  # stored runs whose settings differ (they restart)


@dataclass
class Plan:
    study: str
    cells: list[CellPlan]
    workers: int = 1
    cost_table: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def evaluations(self) -> int:
        return sum(c.evaluations for c in self.cells)

    @property
    def fits(self) -> int:
        return sum(c.fits for c in self.cells)

    @property
    def acquisitions(self) -> int:
        return sum(c.acquisitions for c in self.cells)

    @property
    def serial_seconds(self) -> float:
        """Seconds of every cell with a known cost, one after the other."""
        return sum(c.seconds or 0.0 for c in self.cells)

    @property
    def complete(self) -> bool:
        """Every cell with work left has a cost (else the estimate is a lower bound)."""
        return all(c.seconds is not None for c in self.cells if c.evaluations)

    @property
    def wall_seconds(self) -> float:
        longest = max((c.longest_run for c in self.cells), default=0.0)
        return max(self.serial_seconds / max(self.workers, 1), longest)


def _problem_facts(study: Study) -> dict[str, tuple[int, int]]:
    """label -> (dimension, objectives), from the problems' metadata (nothing is built)."""
    from bnnbo.problems import problem_info

    out = {}
    for p in study.problems:
        info = problem_info(p["problem_name"], **p["options"])
        out[p["label"]] = (info.dim, info.num_objectives)
    return out


def stored_runs(url, study: Study) -> dict[tuple[str, str, int], tuple[RunSpec, int, bool, int]]:
    """cell -> (stored spec, evaluations stored, has a surrogate state, run id); read-only."""
    from bnnbo.storage import Store, sqlite_path

    path = sqlite_path(url)
    if path is not None and not path.exists():
        return {}  # no store yet: every run is still to do
    with Store(url, create=False) as store:
        study_id = store.study_id(study.name)
        if study_id is None:
            return {}
        records = store.runs(study_id)
        with_state = store.runs_with_state([r.id for r in records])
    return {r.cell: (r.spec, r.n_evaluations, r.id in with_state, r.id) for r in records}


def matching_runs(stored, specs: list[RunSpec]) -> dict[tuple[str, str], list[int]]:
    """(problem, surrogate) -> ids of the stored runs (``stored_runs``) with today's settings."""
    out: dict[tuple[str, str], list[int]] = {}
    for spec in specs:
        old = stored.get((spec.problem, spec.surrogate, spec.seed))
        if old is not None and old[0].comparable() == spec.comparable():
            out.setdefault((spec.problem, spec.surrogate), []).append(old[3])
    return out


def stored_costs(url, runs: dict[tuple[str, str], list[int]]) -> dict[tuple[str, str], dict[str, Any]]:
    """Cost-table entries (``points`` and ``overhead``, as ``CostTable`` reads them) built from
    the model steps stored for each cell: ``runs`` maps (problem, surrogate) to run ids. A run's
    first model step counts as cold. The overhead is the median of what the time between two
    steps' commits leaves after fit and acquisition (gaps over 10x a step's work are pauses
    or resumes and are skipped); evaluations are in it too, so the entry has
    ``includes_evaluations``."""
    from bnnbo.storage import Store, sqlite_path

    ids = sorted({i for v in runs.values() for i in v})
    path = sqlite_path(url)
    if not ids or (path is not None and not path.exists()):
        return {}
    cols = ("run_id", "batch", "initial", "fit_seconds", "acq_seconds", "created_at")
    with Store(url, create=False) as store:
        rows = store.evaluation_rows(cols, ids)
    steps: dict[int, list[list]] = {}  # run -> [batch, initial, fit, acq, size, first commit, last commit]
    for r in rows:
        batches = steps.setdefault(r.run_id, [])
        if batches and batches[-1][0] == r.batch:
            batches[-1][4] += 1
            batches[-1][6] = r.created_at
        else:
            batches.append([r.batch, r.initial, r.fit_seconds, r.acq_seconds, 1, r.created_at, r.created_at])
    out = {}
    for cell, run_ids in runs.items():
        points, gaps = [], []
        for rid in run_ids:
            n, first, prev = 0, True, None
            for batch, initial, fit, acq, size, t0, t1 in steps.get(rid, []):
                if not initial:
                    points.append({"n": n, "cold": first, "fit": float(fit), "acq": float(acq)})
                    first = False
                    if prev is not None:
                        gap = (t1 - prev).total_seconds()
                        if 0 <= gap <= 10 * (fit + acq) + 60:
                            gaps.append(max(gap - fit - acq, 0.0))
                n, prev = n + size, t1
        if points:
            overhead = sorted(gaps)[len(gaps) // 2] if gaps else 0.0
            out[cell] = {"points": points, "overhead": overhead, "includes_evaluations": bool(gaps)}
    return out


def plan_study(
    study: Study, db=None, costs: CostTable | None = None, workers: int = 1, force_new: bool = False
) -> Plan:
    """Count and cost what ``bnnbo run`` would do now; ``db``: a store to read (only read) for the
    runs already done, None for a fresh start."""
    if not isinstance(workers, int) or workers < 1:
        raise ConfigError(f"workers = {workers!r}; expected an integer >= 1")
    costs = costs or CostTable.load()
    facts = _problem_facts(study)
    stored = stored_runs(db, study) if db is not None else {}
    specs = study.cells()
    matching = matching_runs(stored, specs)
    own = stored_costs(db, matching) if matching else {}
    cells: dict[tuple[str, str], CellPlan] = {}
    notes: list[str] = []
    for spec in specs:
        cell = cells.setdefault((spec.problem, spec.surrogate), CellPlan(spec.problem, spec.surrogate))
        cell.runs += 1
        n, state = 0, False
        old = stored.get((spec.problem, spec.surrogate, spec.seed))
        if old is not None:
            if old[0].comparable() == spec.comparable():
                n, state = old[1], old[2]
            else:
                cell.changed += 1
        work = run_work(spec, n, state)
        if work.evaluations == 0:
            cell.finished += 1
            continue
        cell.evaluations += work.evaluations
        cell.fits += work.fits
        cell.acquisitions += work.fits
        dim, m = facts[spec.problem]
        per_eval = costs.eval_seconds(spec.problem_name, spec.problem_options)
        entry = own.get((spec.problem, spec.surrogate))
        cost: CellCost | None
        if entry is not None:
            cost, source = CellCost(entry), STORED
        else:
            cost, source = costs.lookup(costs.cell_key(spec, dim, m))
        if cost is None:
            cell.seconds, cell.cost_source = None, "none"
            continue
        # costs taken from stored steps hold the model steps' evaluations in their overhead (not
        # an initial design's, still to run)
        step_eval_known = per_eval is not None or (bool(cost.entry.get("includes_evaluations")) and not work.initial)
        if source not in MEASURED or not step_eval_known:
            cell.cost_source = source if source not in MEASURED else "approx. (evaluation cost not measured)"
        elif source == STORED:
            cell.cost_source = STORED
        per_eval = per_eval or 0.0
        step_eval = 0.0 if cost.entry.get("includes_evaluations") else per_eval
        t = 0.0
        if work.initial:
            t += cost.overhead + work.initial * per_eval
        for i, size in enumerate(work.fit_sizes):
            batch = min(spec.q, spec.budget - size)
            t += cost.overhead + cost.fit(size, work.cold_first and i == 0) + cost.acq(size) + batch * step_eval
        if cell.seconds is not None:
            cell.seconds += t
        cell.longest_run = max(cell.longest_run, t)
    changed = sum(c.changed for c in cells.values())
    if changed:
        notes.append(
            f"{changed} stored run(s) have other settings: counted from zero, as --force-new "
            "restarts them" + ("" if force_new else " (without it `bnnbo run` refuses them)")
        )
    missing = [f"{c.problem} / {c.surrogate}" for c in cells.values() if c.seconds is None]
    if missing:
        notes.append(
            f"no measured cost for {', '.join(missing)}: the total is a lower bound; "
            "measure them with `python benchmarks/plan_costs.py STUDY.toml`"
        )
    return Plan(study.name, list(cells.values()), workers, costs.source, notes)


def format_seconds(s: float | None) -> str:
    if s is None:
        return "?"
    if s < 90:
        return f"{s:.0f} s"
    if s < 5400:
        return f"{s / 60:.1f} min"
    if s < 48 * 3600:
        return f"{s / 3600:.1f} h"
    return f"{s / 86400:.1f} days"


def plan_table(plan: Plan):
    """The plan as a rich Table (one row per problem x surrogate, then the total)."""
    from rich.table import Table

    t = Table(
        "problem",
        "surrogate",
        "runs left",
        "evals",
        "fits",
        "acqs",
        "est. time",
        "cost",
        title=f"plan of study {plan.study!r}",
        caption="evals: evaluations; fits / acqs: surrogate fits "
        "and acquisition optimisations; cost: how the time was estimated",
    )
    for c in plan.cells:
        t.add_row(
            c.problem,
            c.surrogate,
            f"{c.runs - c.finished} / {c.runs}",
            str(c.evaluations),
            str(c.fits),
            str(c.acquisitions),
            format_seconds(c.seconds) if c.evaluations else "-",
            c.cost_source if c.evaluations else "",
        )
    bound = "" if plan.complete else ">= "
    t.add_section()
    t.add_row(
        "total",
        "",
        str(sum(c.runs - c.finished for c in plan.cells)),
        str(plan.evaluations),
        str(plan.fits),
        str(plan.acquisitions),
        bound + format_seconds(plan.serial_seconds),
        "1 process",
    )
    t.add_row("wall", "", "", "", "", "", bound + format_seconds(plan.wall_seconds), f"{plan.workers} workers")
    return t
