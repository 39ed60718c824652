"""bnnbo side by side with the tools users would pick instead: Optuna, HEBO, SMAC3, Ax.

For each problem and seed every optimiser gets the same budget, the same initial-design size
(where its API takes one) and the same objective: the bnnbo Problem, called one point at a time
through the optimiser's own public API in the optimiser's own convention (Optuna and Ax in the
problem's source direction; HEBO and SMAC3 minimise, so they see the loss). Each finished run is
appended to the store (JSON lines) at once and runs already there are skipped, so an interrupted
benchmark resumes; ``doc`` regenerates docs/peers.md and its figures from the store alone.

    python benchmarks/peers.py run --problems branin,hartmann6 --seeds 0-2
    python benchmarks/peers.py run --problems all --seeds 0-9 --q 4 --optimizers bnnbo-gp,optuna-gp,hebo,ax,random
    python benchmarks/peers.py doc                  # docs/peers.md + docs/figures/peers-*.png
    python benchmarks/peers.py versions             # which peers import, and their versions

After a change to bnnbo's loop, its rows are re-run without touching the peers' rows:

    python benchmarks/peers.py drop --optimizers bnnbo-gp,bnnbo-ibnn,bnnbo-hmc,bnnbo-auto
    python benchmarks/peers.py run --problems all --seeds 0-9 --optimizers bnnbo-gp,bnnbo-ibnn,bnnbo-hmc,bnnbo-auto

``drop`` moves the matching rows to ``peers-dropped.jsonl`` beside the store (nothing is deleted).
Each row records the bnnbo commit it was made at; ``doc`` flags bnnbo rows that record none
(made before the current default loop) as stale.

Optimiser overhead per iteration = the wall time between the end of one iteration's last
evaluation and the start of the next iteration's first one (the optimiser's tell + ask and its
bookkeeping, never the objective), over the model-based iterations.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # before numpy / torch are imported

import argparse
import calendar
import contextlib
import fcntl
import importlib
import json
import logging
import math
import platform
import random
import statistics
import sys
import tempfile
import time
import traceback
import warnings
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bnnbo import Optimizer, get_problem, version
from bnnbo.optimizer import progress_trace
from bnnbo.space import DTYPE, Categorical, Float, Integer

STORE = ROOT / "benchmarks" / "results" / "peers.jsonl"
DOC = ROOT / "docs" / "peers.md"
FIGURES = ROOT / "docs" / "figures"


INSTALL_NOTE = (
    "Installation beside the pinned CPU torch, with a constraints file that pins every package "
    "already in the environment (`pip install -c <pip freeze>`): optuna 5, smac 2 and ax-platform 1 "
    "installed without changing any installed package (ax-platform 1.3.1 accepts botorch 0.18.1). "
    "hebo 0.3.6, the newest, declares `numpy<1.25` and `pymoo==0.6.0`, which conflict with numpy 2 "
    "and pymoo 0.6.2, so pip fell back to hebo 0.3.2, which does not import (`pymoo.factory` was "
    "removed in pymoo 0.6). hebo 0.3.6 was then installed with `--no-deps` (overriding both pins) "
    "and ran without error on the problems below; its results are from that unsupported combination."
)

#: Item 4 of issue 14: a bnnbo surrogate inside Ax's modular BoTorch model.
AX_NOTE = """
`bnnbo.integrations.ax` (tested in `tests/test_ax_integration.py` with ax-platform as installed;
the tests skip without it) puts any bnnbo surrogate inside Ax's modular BoTorch generator:

```python
from ax import Client, RangeParameterConfig
from bnnbo.integrations.ax import bnnbo_generation_strategy

client = Client(random_seed=0)
client.configure_experiment(
    parameters=[
        RangeParameterConfig("x", bounds=(-5.0, 5.0), parameter_type="float"),
        RangeParameterConfig("y", bounds=(-5.0, 5.0), parameter_type="float"),
    ]
)
client.configure_optimization(objective="-f")
client.set_generation_strategy(bnnbo_generation_strategy("ibnn", n_init=5, seed=0))  # Sobol, then bnnbo
```

How it meets Ax's model-construction contract (Ax 1.3, `ax/generators/torch/botorch_modular/`):

- Ax builds the model as `botorch_model_class(**botorch_model_class.construct_inputs(dataset,
  **model_options))`. `BnnboModel` is a BoTorch `Model` whose `construct_inputs` takes the
  surrogate's name, settings and seed from `ModelConfig.model_options`, and whose constructor fits
  the bnnbo surrogate to the training data (after Ax's input transform, `Normalize` by default; Ax's
  own transforms have already put range parameters in the unit cube and one-hot encoded
  unordered choices). Its `posterior` is the fitted surrogate's, so Ax's acquisition (qLogNEI by
  default) uses it like any BoTorch model.
- Ax then fits through its `fit_botorch_model` dispatcher, which knows only GPyTorch models, model
  lists and NUTS-fitted GPs and raises `NotImplementedError` for anything else, naming the fix:
  register a routine for the class. Importing `bnnbo.integrations.ax` registers one for
  `BnnboModel` (a no-op: the fit happened at construction). The dispatcher lives in Ax's generator
  modules rather than its `ax.api` surface, so a later Ax release may move it; the import fails
  with a clear error if it does.
- Not covered: Ax's JSON/SQL storage of a generation strategy naming `BnnboModel` (an unregistered
  class to Ax's encoder; untested), several outcomes in one `BnnboModel` (Ax gives each metric its
  own model by default), and Ax's model diagnostics: its leave-one-out check judged an I-BNN fit to 10
  points of a quadratic unreliable and reported the best observed point instead of the model's.
"""


#: Static reading of the two GP loops' code, printed under the target; the measured verdict is above it.
WHY_NOTE = """
The verdict and the cause of each loss are under each problem above; this is what they share.
bnnbo's q = 1 single-objective default follows GPSampler's main choices (a Matern-5/2 GP with a
near-noiseless likelihood, warm-started MAP fits, analytic LogEI, and one local search started at
the incumbent; docs/performance.md, "The default loop against Optuna's GPSampler", issue 20). Its
lengthscale prior grows with the number of inputs (mode max(1, sqrt(d / 6)), issue 20 round 5);
before that change its mode was 1 in every dimension, and the default lost on poly200. What the
GP still assumes about the inputs' kind (categorical inputs as ordered coordinates) is the next
candidate where it loses on one objective.

- **Several objectives** (q = 1) use the same GP, one per objective, warm-started, under
  analytic LogEHVI over the observed Pareto front (GPSampler's acquisition there, computed
  exactly rather than from fixed QMC samples), optimised like LogEI from starts at Pareto-optimal
  points (docs/performance.md, "Batch (q > 1) and multi-objective defaults, re-checked").
- **Batches** keep the previous loop (qLogNEI / qLogNEHVI with BoTorch's GP fitted cold each
  iteration; multi-objective batches are optimised greedily): the dearer loop, whose GP was
  not re-chosen for deterministic objectives.
- **Overhead** is compared per seed, interleaved where the rows allow; rows stored in different
  sessions ran under different loads, and the machine was shared throughout.
"""


#: Hand-written causes (from reading both tools' code, no numbers), printed under a problem's
#: verdict only when the measured verdict there is a loss.
POLY_NOTE = """
In 200 dimensions with 20 to 40 points, the GP can only model broad trends: its lengthscales must
be long against the unit cube. bnnbo's default lengthscale prior has its mode at sqrt(d / 6)
(issue 20 round 5, docs/performance.md; it replaced a mode of 1 in every dimension, which lost
here); Ax's default (BoTorch's GP) uses Hvarfner et al.'s (2024) dimension-scaled
prior, mode ~0.2 sqrt(d) but far wider. Where the default still loses, the next things to try
are that wider prior's shape (bnnbo's `lengthscale_prior="hvarfner"` setting) and BoTorch's
whole GP (the bnnbo-gp-botorch row, `kernel="botorch"`).
"""

MO_OVERHEAD = (
    "With several objectives each iteration fits one warm-started GP per objective, as GPSampler "
    "does, and optimises analytic LogEHVI, whose cost per evaluation grows with the number of "
    "boxes that decompose the region the observed Pareto front does not dominate (steeply with the "
    "number of objectives); GPSampler evaluates the same criterion on 128 fixed QMC samples. "
    "What would cut it: fewer boxes (a coarser decomposition) or a hand-written gradient, as LogEI has."
)

LOSS_NOTES = {
    "pest": """
bnnbo's GP sees each categorical input as one unit-cube coordinate with its levels at
the cell centres, i.e. in an arbitrary order, under a stationary Matern kernel: levels that
happen to be neighbours in that order are modelled as similar, others as different. Optuna's
GPSampler puts a Hamming distance (equal or not) on categorical inputs, which makes no such
assumption. The acquisition optimiser already treats the levels as categories; the fix is a
categorical kernel in the default GP (a Hamming / one-hot kernel on the categorical
dimensions, as BoTorch's mixed GP has).
""",
    "oil": """
bnnbo's default fits one near-noiseless, warm-started Matern GP per objective and treats the
ordinal inputs as unit-cube coordinates at their levels' cell centres, under analytic LogEHVI
optimised by BoTorch's alternating discrete/continuous search; GPSampler's GP and acquisition are
the same in kind, and it searches the discrete inputs by exhaustive or line search.
With few seeds per tool on this shared machine the SE intervals are wide; more seeds would settle whether
a gap here is real before any change to the loop.
""",
    "poly200": POLY_NOTE,
}

#: The same for overhead above GPSampler's.
OVERHEAD_NOTES = {
    "branincurrin": MO_OVERHEAD,
    "oil": MO_OVERHEAD + " On oil the mixed (ordinal) inputs add the alternating discrete/continuous search, whose "
    "neighbourhood steps evaluate the acquisition many more times than a continuous search.",
    "poly200": (
        "Both loops spend most of their overhead in the acquisition search (a handful of local L-BFGS-B "
        "searches over all inputs per iteration), which grows with the dimension. Before issue 20 round 5 "
        "bnnbo's default had lengthscales near the unit cube's width here, LogEI was rough and its "
        "searches ran to about their iteration cap (a profiled run outside the store); the "
        "dimension-scaled prior made the GP smoother and the searches shorter. Where it is still above "
        "GPSampler's, the fix to try is a looser search tolerance in high dimension (GPSampler stops "
        "its searches at a projected gradient of 1e-2, bnnbo's at L-BFGS-B's default 1e-5)."
    ),
}


#: The same for batches (q > 1), whatever the problem.
BATCH_LOSS_NOTE = """
Batches keep bnnbo's previous loop: BoTorch's GP with a learned noise level, fitted cold every
iteration, under qLogNEI optimised jointly over the batch. The sequential loop replaced that GP
(with a near-noiseless, warm-started Matern GP) because it fitted deterministic objectives worse;
GPSampler keeps its sequential GP for batches and accounts for the pending trials in its
acquisition. The fix to try: the q = 1 loop's GP in the batch loop.
"""

BATCH_OVERHEAD_NOTE = """
A batch iteration fits BoTorch's GP cold and optimises MC qLogNEI jointly over all the batch's
points (the batch size times the dimension as variables, from several restarts); GPSampler
warm-starts its fit and picks the batch's points one at a time with its sequential search. The
fix: warm starts in the batch loop and a greedy (one point at a time) batch search.
"""


#: the commands that make the whole matrix and this page (resumable: stored runs are skipped)
REPRODUCE = [
    "python benchmarks/peers.py run --problems all --optimizers all --seeds 0-9",
    "python benchmarks/peers.py run --problems branin,hartmann6 --optimizers all --seeds 0-9 --q 4",
    "python benchmarks/peers.py doc",
]


@dataclass(frozen=True)
class ProblemSpec:
    factory: str
    options: dict
    n_init: int
    budget: int
    note: str = ""

    def build(self):
        return get_problem(self.factory, **self.options)


PROBLEMS = {
    "branin": ProblemSpec("branin", {}, 10, 30),
    "hartmann6": ProblemSpec("hartmann6", {}, 12, 50),
    "ackley10": ProblemSpec("ackley", {"dim": 10}, 20, 80),
    "branincurrin": ProblemSpec("branincurrin", {}, 10, 40, "two objectives: hypervolume"),
    "pest": ProblemSpec("pest", {}, 20, 60, "25 categorical inputs; optimum unknown"),
    "oil": ProblemSpec("oil", {}, 20, 50, "mixed inputs, three objectives: hypervolume"),
    "poly200": ProblemSpec("poly", {"dim": 200}, 20, 40, "200-D, short budget"),
}


# ---- the objective every optimiser calls ---------------------------------------------------
class BudgetExhausted(RuntimeError):
    pass


class Recorder:
    """Evaluates one point (bnnbo original units) at a time, in the maximisation convention,
    and records values and the wall-time gaps between evaluations."""

    def __init__(self, problem, budget: int):
        self.problem, self.budget = problem, budget
        self.X: list[list[float]] = []
        self.Y: list[list[float]] = []
        self.gaps: list[float] = []
        self.objective_seconds = 0.0
        self._last_end = time.perf_counter()

    @property
    def left(self) -> int:
        return self.budget - len(self.Y)

    def __call__(self, row) -> list[float]:
        if self.left <= 0:
            raise BudgetExhausted(f"the optimiser asked for evaluation {len(self.Y) + 1} of {self.budget}")
        t0 = time.perf_counter()
        y = self.problem.evaluate(torch.tensor([list(row)], dtype=DTYPE))[0].tolist()
        t1 = time.perf_counter()
        self.gaps.append(t0 - self._last_end)
        self._last_end = t1
        self.objective_seconds += t1 - t0
        self.X.append([float(v) for v in row])
        self.Y.append(y)
        return y


def _loss(problem, y: list[float]) -> list[float]:
    """Values in the problem's source convention when that minimises (its loss), else as they are."""
    return [-v for v in y] if problem.negated else list(y)


# ---- optimisers ------------------------------------------------------------------------------
def run_bnnbo(surrogate: str, settings: dict | None = None):
    def run(problem, spec: ProblemSpec, seed: int, q: int, f: Recorder) -> dict:
        opt = Optimizer(
            problem.space,
            problem.num_objectives,
            surrogate,
            seed=seed,
            q=q,
            n_init=spec.n_init,
            ref_point=problem.ref_point,
            surrogate_settings=settings,
        )
        while f.left > 0:
            X = opt.ask(min(spec.n_init if opt.n_told < spec.n_init else q, f.left))
            Y = [f(x) for x in X.tolist()]
            opt.tell(X, torch.tensor(Y, dtype=DTYPE))
        return {
            "surrogate": surrogate,
            "acquisition": "default",
            "n_init": spec.n_init,
            **({"surrogate_settings": settings} if settings else {}),
        }

    return run


def _optuna_suggest(trial, space) -> list[float]:
    row = []
    for p in space.parameters:
        if isinstance(p, Float):
            row.append(trial.suggest_float(p.name, p.low, p.high, log=p.log))
        elif isinstance(p, Integer):
            row.append(float(trial.suggest_int(p.name, int(p.low), int(p.high))))
        else:
            row.append(float(p.choices.index(trial.suggest_categorical(p.name, list(p.choices)))))
    return row


def run_optuna(kind: str):
    def run(problem, spec, seed, q, f) -> dict:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.ERROR)
        if kind == "tpe":
            sampler = optuna.samplers.TPESampler(seed=seed, n_startup_trials=spec.n_init, constant_liar=q > 1)
        else:
            sampler = optuna.samplers.GPSampler(seed=seed, n_startup_trials=spec.n_init)
        m = problem.num_objectives
        study = optuna.create_study(directions=["minimize" if problem.negated else "maximize"] * m, sampler=sampler)
        while f.left > 0:
            trials = [study.ask() for _ in range(min(q, f.left))]
            rows = [_optuna_suggest(t, problem.space) for t in trials]  # all asked before any is told
            for t, row in zip(trials, rows):
                v = _loss(problem, f(row))
                study.tell(t, v[0] if m == 1 else v)
        return {
            "sampler": type(sampler).__name__,
            "n_startup_trials": spec.n_init,
            "constant_liar": kind == "tpe" and q > 1,
        }

    return run


def run_hebo(problem, spec, seed, q, f) -> dict:
    import pandas as pd
    from hebo.design_space.design_space import DesignSpace
    from hebo.optimizers.hebo import HEBO

    params = []
    for p in problem.space.parameters:
        if isinstance(p, Float):
            kind = "pow" if p.log else "num"
            params.append({"name": p.name, "type": kind, "lb": p.low, "ub": p.high})
        elif isinstance(p, Integer):
            params.append({"name": p.name, "type": "int", "lb": int(p.low), "ub": int(p.high)})
        else:
            params.append({"name": p.name, "type": "cat", "categories": [str(c) for c in p.choices]})
    opt = HEBO(DesignSpace().parse(params), rand_sample=spec.n_init)
    while f.left > 0:
        rec = opt.suggest(n_suggestions=min(q, f.left))
        losses = []
        for _, r in rec.iterrows():
            row = []
            for p in problem.space.parameters:
                v = r[p.name]
                row.append(float([str(c) for c in p.choices].index(v)) if isinstance(p, Categorical) else float(v))
            losses.append([-f(row)[0]])  # HEBO minimises
        opt.observe(pd.DataFrame(rec), np.asarray(losses, dtype=float))
    return {"class": "HEBO", "model": "gpy (default)", "acquisition": "MACE (default)", "rand_sample": spec.n_init}


def run_smac(problem, spec, seed, q, f) -> dict:
    from ConfigSpace import Categorical as CSCat
    from ConfigSpace import ConfigurationSpace
    from ConfigSpace import Float as CSFloat
    from ConfigSpace import Integer as CSInt
    from smac import BlackBoxFacade, Scenario
    from smac.runhistory.dataclasses import TrialValue

    cs = ConfigurationSpace(seed=seed)
    for p in problem.space.parameters:
        if isinstance(p, Float):
            cs.add(CSFloat(p.name, (p.low, p.high), log=p.log))
        elif isinstance(p, Integer):
            cs.add(CSInt(p.name, (int(p.low), int(p.high))))
        else:
            cs.add(CSCat(p.name, [str(c) for c in p.choices]))
    with tempfile.TemporaryDirectory() as out:
        scenario = Scenario(cs, deterministic=True, n_trials=spec.budget, seed=seed, output_directory=Path(out))
        design = BlackBoxFacade.get_initial_design(scenario, n_configs=spec.n_init)
        smac = BlackBoxFacade(
            scenario,
            target_function=lambda config, seed=0: 0.0,
            initial_design=design,
            overwrite=True,
            logging_level=logging.ERROR,
        )
        while f.left > 0:
            info = smac.ask()
            config = info.config
            row = []
            for p in problem.space.parameters:
                v = config[p.name]
                row.append(float([str(c) for c in p.choices].index(v)) if isinstance(p, Categorical) else float(v))
            smac.tell(info, TrialValue(cost=-f(row)[0]))  # SMAC minimises
    return {"facade": "BlackBoxFacade (GP)", "initial_design": f"default of the facade, n_configs={spec.n_init}"}


def run_ax(problem, spec, seed, q, f) -> dict:
    from ax import ChoiceParameterConfig, Client, RangeParameterConfig

    for name in [n for n in logging.root.manager.loggerDict if n == "ax" or n.startswith("ax.")]:
        logging.getLogger(name).setLevel(logging.ERROR)  # Ax sets INFO on each: one line per trial otherwise
    client = Client(random_seed=seed)
    params = []
    for p in problem.space.parameters:
        if isinstance(p, Float):
            params.append(
                RangeParameterConfig(
                    p.name, bounds=(p.low, p.high), parameter_type="float", scaling="log" if p.log else None
                )
            )
        elif isinstance(p, Integer):
            params.append(RangeParameterConfig(p.name, bounds=(int(p.low), int(p.high)), parameter_type="int"))
        else:
            params.append(
                ChoiceParameterConfig(
                    p.name, values=[str(c) for c in p.choices], parameter_type="str", is_ordered=False
                )
            )
    client.configure_experiment(parameters=params)
    m = problem.num_objectives
    names = [f"f{j}" for j in range(m)]
    sign = "-" if problem.negated else ""
    client.configure_optimization(objective=", ".join(sign + n for n in names))
    client.configure_generation_strategy(initialization_budget=spec.n_init)
    while f.left > 0:
        trials = client.get_next_trials(max_trials=min(q, f.left))
        for index, params_ in trials.items():
            row = []
            for p in problem.space.parameters:
                v = params_[p.name]
                row.append(float([str(c) for c in p.choices].index(v)) if isinstance(p, Categorical) else float(v))
            # the values in the problem's source convention, which the objective string's sign matches
            v = _loss(problem, f(row))
            client.complete_trial(index, raw_data=dict(zip(names, v)))
    return {
        "api": "ax.Client",
        "generation_strategy": "configure_generation_strategy() defaults ('fast')",
        "initialization_budget": spec.n_init,
    }


def run_random(problem, spec, seed, q, f) -> dict:
    gen = torch.Generator().manual_seed(seed)
    U = torch.rand(spec.budget, problem.dim, generator=gen, dtype=DTYPE)
    for x in problem.space.from_unit(U).tolist():
        f(x)
    return {"design": "uniform on the unit cube, discrete values snapped"}


@dataclass(frozen=True)
class OptimiserSpec:
    run: object
    package: str | None  # distribution whose version is reported (None: bnnbo itself)
    module: str | None  # imported to check availability
    multi_objective: bool
    batch: bool
    why_not_mo: str = ""
    why_not_batch: str = ""


OPTIMISERS = {
    "bnnbo-gp": OptimiserSpec(run_bnnbo("gp"), None, None, True, True),
    "bnnbo-ibnn": OptimiserSpec(run_bnnbo("ibnn"), None, None, True, True),
    "bnnbo-hmc": OptimiserSpec(run_bnnbo("hmc"), None, None, True, True),
    "bnnbo-auto": OptimiserSpec(run_bnnbo("auto"), None, None, True, True),
    # not a default: the default loop with BoTorch's GP (RBF kernel, Hvarfner et al.'s
    # dimension-scaled lengthscale prior, learned noise), measured beside it
    "bnnbo-gp-botorch": OptimiserSpec(run_bnnbo("gp", {"kernel": "botorch"}), None, None, True, True),
    "optuna-tpe": OptimiserSpec(run_optuna("tpe"), "optuna", "optuna", True, True),
    "optuna-gp": OptimiserSpec(run_optuna("gp"), "optuna", "optuna", True, True),
    "hebo": OptimiserSpec(
        run_hebo,
        "hebo",
        "hebo.optimizers.hebo",
        False,
        True,
        why_not_mo="HEBO's `HEBO` optimiser takes one objective (its `GeneralBO` does several; not wired here)",
    ),
    "smac": OptimiserSpec(
        run_smac,
        "smac",
        "smac",
        False,
        False,
        why_not_mo="the BlackBoxFacade optimises one cost here (SMAC3's multi-objective mode is a ParEGO "
        "scalarisation; not wired here)",
        why_not_batch="SMAC3 has no joint batch proposal: parallel workers each ask one configuration",
    ),
    "ax": OptimiserSpec(run_ax, "ax-platform", "ax", True, True),
    "random": OptimiserSpec(run_random, None, None, True, True),
}


def availability(name: str) -> tuple[bool, str]:
    """(importable, version or the import error)."""
    spec = OPTIMISERS[name]
    if spec.module is None:
        return True, "bnnbo " + metadata.version("bnnbo") if spec.package is None else ""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            importlib.import_module(spec.module)
        return True, f"{spec.package} {metadata.version(spec.package)}"
    except Exception as exc:  # noqa: BLE001 - a peer that will not import is reported, never dropped
        return False, f"{type(exc).__name__}: {exc}"


# ---- running ----------------------------------------------------------------------------------
def run_key(problem: str, optimiser: str, seed: int, q: int, spec: ProblemSpec) -> tuple:
    return (problem, optimiser, seed, q, spec.n_init, spec.budget)


@contextlib.contextmanager
def _locked(store: Path):
    """Serialises appends and ``drop``'s rewrite of one store across processes (the lock file
    lives outside the repository)."""
    import hashlib

    name = hashlib.sha1(str(store.resolve()).encode()).hexdigest()[:16]
    with open(Path(tempfile.gettempdir()) / f"bnnbo-peers-{name}.lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def append_row(store: Path, row: dict) -> None:
    with _locked(store), store.open("a") as fh:  # one line per finished run, written at once
        fh.write(json.dumps(row) + "\n")


def dropped_path(store: Path) -> Path:
    return store.with_name(store.stem + "-dropped" + store.suffix)


def drop_rows(store: Path, optimisers: list[str], problems: list[str] | None = None, q: int | None = None) -> int:
    """Moves the rows of these optimisers (on these problems, of this batch size) to the
    ``-dropped`` file beside the store, so their runs are made again by the next ``run``;
    returns how many moved."""
    with _locked(store):
        if not store.exists():
            return 0
        lines = [line for line in store.read_text().splitlines() if line.strip()]
        keep, gone = [], []
        for line in lines:
            try:
                r = json.loads(line)
            except json.JSONDecodeError:
                keep.append(line)
                continue
            hit = (
                r.get("optimizer") in optimisers
                and (problems is None or r.get("problem") in problems)
                and (q is None or r.get("q") == q)
            )
            (gone if hit else keep).append(line)
        if not gone:
            return 0
        with dropped_path(store).open("a") as fh:  # archived first: a crash now leaves a copy
            fh.write("\n".join(gone) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        tmp = store.with_name(store.name + ".tmp")
        tmp.write_text("".join(line + "\n" for line in keep))
        os.replace(tmp, store)
        return len(gone)


def code_commit() -> str | None:
    """The repository's HEAD, with ``+dirty`` when bnnbo/ or this script has uncommitted changes."""
    return version.code_commit("benchmarks/peers.py")


def load_store(path: Path) -> list[dict]:
    if not path.exists():
        return []
    rows = []
    for line in path.read_text().splitlines():
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:  # a line cut by a kill mid-write: that run is redone
                continue
    return rows


def unique_runs(rows: list[dict]) -> list[dict]:
    """The first finished row of each run (a run done twice by two processes counts once)."""
    seen, out = set(), []
    for r in rows:
        if r["status"] == "ok":
            if _key_of(r) in seen:
                continue
            seen.add(_key_of(r))
        out.append(r)
    return out


def _key_of(row: dict) -> tuple:
    return (row["problem"], row["optimizer"], row["seed"], row["q"], row["n_init"], row["budget"])


def run_one(problem_name: str, optimiser: str, seed: int, q: int) -> dict:
    spec, ospec = PROBLEMS[problem_name], OPTIMISERS[optimiser]
    row = {
        "problem": problem_name,
        "optimizer": optimiser,
        "seed": seed,
        "q": q,
        "n_init": spec.n_init,
        "budget": spec.budget,
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "loadavg": os.getloadavg()[0],
        "python": platform.python_version(),
        "torch": torch.__version__,
        "bnnbo_commit": code_commit(),
    }
    problem = spec.build()
    reason = None  # what the tool cannot do is known without importing it
    if problem.num_objectives > 1 and not ospec.multi_objective:
        reason = f"unsupported: {ospec.why_not_mo}"
    elif q > 1 and not ospec.batch:
        reason = f"unsupported: {ospec.why_not_batch}"
    else:
        ok, row["version"] = availability(optimiser)
        if not ok:
            reason = f"not installed: {row['version']}"
    if reason is not None:
        return {**row, "status": "skipped", "reason": reason}
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    f = Recorder(problem, spec.budget)
    t0 = time.perf_counter()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            settings = ospec.run(problem, spec, seed, q, f)
    except Exception as exc:  # noqa: BLE001 - one failing run is recorded, the others go on
        return {
            **row,
            "status": "error",
            "reason": f"{type(exc).__name__}: {exc}",
            "traceback": traceback.format_exc()[-3000:],
            "n_evals": len(f.Y),
        }
    wall = time.perf_counter() - t0
    Y = torch.tensor(f.Y, dtype=DTYPE)
    trace = progress_trace(Y, problem.ref_point).tolist()
    model_gaps = f.gaps[spec.n_init :]
    per_iter = [sum(model_gaps[i : i + q]) for i in range(0, len(model_gaps), q)]
    return {
        **row,
        "status": "ok",
        "settings": settings,
        "n_evals": len(f.Y),
        "trace": trace,
        "final": trace[-1],
        "objectives": problem.num_objectives,
        "optimal_value": problem.optimal_value,
        "max_hv": problem.max_hv,
        "overhead_per_iter": per_iter,
        "overhead_median": statistics.median(per_iter) if per_iter else 0.0,
        "objective_seconds": f.objective_seconds,
        "wall_seconds": wall,
    }


def parse_seeds(text: str) -> list[int]:
    seeds: list[int] = []
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        seeds.extend(range(int(lo), int(hi or lo) + 1))
    return seeds


def parse_until(text: str | None) -> float | None:
    """``HH:MM`` (UTC, today) as a POSIX time, or None."""
    if not text:
        return None
    try:
        hh, mm = (int(v) for v in text.split(":"))
        if not (0 <= hh < 24 and 0 <= mm < 60):
            raise ValueError
    except ValueError:
        raise SystemExit(f"--until {text!r}: expected HH:MM (UTC), e.g. 05:10") from None
    now = time.gmtime()
    return calendar.timegm((now.tm_year, now.tm_mon, now.tm_mday, hh, mm, 0))


def pick(text: str, allowed: dict, what: str) -> list[str]:
    if text == "all":
        return list(allowed)
    names = [t.strip() for t in text.split(",") if t.strip()]
    bad = [n for n in names if n not in allowed]
    if bad:
        raise SystemExit(f"unknown {what} {bad}; expected 'all' or some of: {', '.join(allowed)}")
    return names


def cmd_run(args) -> None:
    problems = pick(args.problems, PROBLEMS, "problem(s)")
    optimisers = pick(args.optimizers, OPTIMISERS, "optimiser(s)")
    seeds = parse_seeds(args.seeds)
    store = Path(args.store)
    store.parent.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)
    until = parse_until(args.until)
    # interleaved (seed-major) so a partial run covers every optimiser on the seeds it reached
    for seed in seeds:
        for problem in problems:
            for optimiser in optimisers:
                if until is not None and time.time() >= until:
                    print(f"stopping: it is past --until {args.until}; finished runs are stored", flush=True)
                    return
                key = run_key(problem, optimiser, seed, args.q, PROBLEMS[problem])
                # read afresh each time: another process may be filling the same store
                if key in {_key_of(r) for r in load_store(store) if r["status"] in ("ok", "skipped")}:
                    continue
                row = run_one(problem, optimiser, seed, args.q)
                append_row(store, row)
                msg = row.get("final", row.get("reason", ""))
                print(f"{problem:12s} {optimiser:11s} seed {seed} q {args.q}: {row['status']} {msg}", flush=True)


def cmd_drop(args) -> None:
    optimisers = pick(args.optimizers, OPTIMISERS, "optimiser(s)")
    problems = None if args.problems == "all" else pick(args.problems, PROBLEMS, "problem(s)")
    store = Path(args.store)
    n = drop_rows(store, optimisers, problems, args.q)
    print(f"moved {n} row(s) of {', '.join(optimisers)} from {store} to {dropped_path(store)}")


def cmd_versions(args) -> None:
    for name in OPTIMISERS:
        ok, text = availability(name)
        print(f"{name:12s} {'ok' if ok else 'UNAVAILABLE'}  {text}")


# ---- the document ---------------------------------------------------------------------------
def _stats(values: list[float]) -> dict:
    n = len(values)
    mean = statistics.fmean(values)
    se = statistics.stdev(values) / math.sqrt(n) if n > 1 else float("nan")
    return {"n": n, "median": statistics.median(values), "mean": mean, "se": se, "lo": min(values), "hi": max(values)}


def _fmt(x: float) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    x = x + 0.0  # no "-0"
    return f"{x:.3g}" if abs(x) >= 1e-3 or x == 0 else f"{x:.2e}"


def _metric(rows: list[dict], best_known: float | None) -> tuple[str, list[float], bool]:
    """(name, per-run final values, lower is better)."""
    if rows[0]["objectives"] > 1:
        return "final hypervolume (higher is better)", [r["final"] for r in rows], False
    return "final simple regret (lower is better)", [best_known - r["final"] for r in rows], True


def _best_known(rows: list[dict]) -> tuple[float | None, str]:
    opt = rows[0].get("optimal_value")
    if rows[0]["objectives"] > 1:
        return None, ""
    if opt is not None:
        return opt, "the known optimum"
    return max(r["final"] for r in rows), "the best value any run found (the optimum is unknown)"


def is_stale(row: dict) -> bool:
    """A bnnbo row that records no commit was made before the current default loop."""
    return row["optimizer"].startswith("bnnbo") and not row.get("bnnbo_commit")


def _label(name: str, rows: list[dict]) -> str:
    return name + (" (stale)" if any(is_stale(r) for r in rows) else "")


def _plot(problem: str, groups: dict[str, list[dict]], best_known, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2))
    mo = next(iter(groups.values()))[0]["objectives"] > 1
    for name, rows in sorted(groups.items()):
        T = np.array([r["trace"] for r in rows], dtype=float)
        T = T if mo else np.maximum(best_known - T, 1e-12)
        x = np.arange(1, T.shape[1] + 1)
        style = "-" if name.startswith("bnnbo") else "--"
        (line,) = ax.plot(x, np.median(T, axis=0), style, label=f"{_label(name, rows)} ({len(rows)})")
        if len(rows) > 1:
            ax.fill_between(x, T.min(axis=0), T.max(axis=0), color=line.get_color(), alpha=0.12)
    if not mo:
        ax.set_yscale("log")
    ax.set_xlabel("evaluations")
    ax.set_ylabel("hypervolume" if mo else "simple regret")
    ax.set_title(f"{problem}: median over seeds (band: seeds' range)")
    ax.axvline(groups[next(iter(groups))][0]["n_init"] + 0.5, color="grey", lw=0.8, ls=":")
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _ties(a: dict, b: dict, lower: bool) -> bool:
    """a at least ties b: a better median, or a's mean +- SE overlaps b's."""
    better = a["median"] <= b["median"] if lower else a["median"] >= b["median"]
    if better:
        return True
    if math.isnan(a["se"]) or math.isnan(b["se"]):
        return False
    return abs(a["mean"] - b["mean"]) <= a["se"] + b["se"]


#: two runs of one seed started this close together ran interleaved, under about the same load
INTERLEAVED_S = 3600


def _started(row: dict) -> float:
    return calendar.timegm(time.strptime(row["started"], "%Y-%m-%dT%H:%M:%SZ"))


def _overhead_ratio(groups: dict[str, list[dict]]) -> dict | None:
    """bnnbo-gp's overhead per iteration over Optuna GPSampler's, paired by seed: the median of the
    per-seed ratios, over the pairs that ran interleaved when there are any, else over all pairs."""
    if "bnnbo-gp" not in groups or "optuna-gp" not in groups:
        return None
    ours = {r["seed"]: r for r in groups["bnnbo-gp"]}
    pairs = [(ours[r["seed"]], r) for r in groups["optuna-gp"] if r["seed"] in ours and r["overhead_median"] > 0]
    if not pairs:
        return None
    close = [(a, b) for a, b in pairs if abs(_started(a) - _started(b)) <= INTERLEAVED_S]
    used = close or pairs
    return {
        "ratio": statistics.median(a["overhead_median"] / b["overhead_median"] for a, b in used),
        "pairs": len(used),
        "interleaved": bool(close),
    }


def _overhead_text(over: dict) -> str:
    return (
        f"{over['ratio']:.2f}x Optuna GPSampler's (median of {over['pairs']} per-seed ratio(s), "
        + (
            "runs of a seed interleaved"
            if over["interleaved"]
            else "**not interleaved**: the two were run in different sessions, under different loads"
        )
        + ")"
    )


def cmd_doc(args) -> None:
    rows = unique_runs(load_store(Path(args.store)))
    ok = [r for r in rows if r["status"] == "ok"]
    not_ok = [r for r in rows if r["status"] != "ok"]
    FIGURES.mkdir(parents=True, exist_ok=True)
    out = [
        "# bnnbo side by side with Optuna, HEBO, SMAC3 and Ax",
        "",
        "Generated by `python benchmarks/peers.py doc` from the stored runs in",
        f"`{_shown(Path(args.store))}`; do not edit by hand. Every optimiser gets the same budget,",
        "initial-design size and objective per problem and seed, one thread each. The runs come from",
        "`python benchmarks/peers.py run` (finished runs are skipped, so the same commands resume and",
        "complete the store); the whole matrix and this page are reproduced by",
        "",
        "```",
        *REPRODUCE,
        "```",
        "",
    ]
    out += _coverage(ok, args)
    out += _versions_section(rows)
    summary = []
    for problem in PROBLEMS:
        for q in sorted({r["q"] for r in ok if r["problem"] == problem}):
            prow = [r for r in ok if r["problem"] == problem and r["q"] == q]
            if not prow:
                continue
            out += _problem_section(problem, q, prow, summary)
    out += _target_section(summary)
    out += _limits_section(not_ok)
    out += _settings_section(ok)
    out += _ax_surrogate_section()
    Path(args.out).write_text("\n".join(out) + "\n")
    print(f"wrote {args.out}")


def _shown(path: Path) -> str:
    path = path.resolve()
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


SYNTHETIC = ("branin", "hartmann6", "ackley10", "branincurrin")


def _coverage(ok: list[dict], args) -> list[str]:
    lines = ["## What was run", ""]
    if not ok:
        return lines + ["Nothing yet.", ""]
    lines += [
        (
            "Seeds with a finished run, per problem, batch size q and optimiser (n/a: the optimiser cannot "
            "do this problem or batch, see the end of the page; -: not run yet)."
        ),
        "",
        "| problem | q | budget (initial design) | " + " | ".join(OPTIMISERS) + " |",
        "|---|---|---|" + "---|" * len(OPTIMISERS),
    ]
    short = []
    for problem in PROBLEMS:
        for q in sorted({r["q"] for r in ok if r["problem"] == problem}):
            prow = [r for r in ok if r["problem"] == problem and r["q"] == q]
            cells = []
            for name, spec in OPTIMISERS.items():
                n = len({r["seed"] for r in prow if r["optimizer"] == name})
                unsupported = (prow[0]["objectives"] > 1 and not spec.multi_objective) or (q > 1 and not spec.batch)
                cells.append("n/a" if unsupported else str(n) if n else "-")
                if not unsupported and n < 10:
                    short.append(f"{problem}/q{q}/{name} ({n})")
            lines.append(f"| {problem} | {q} | {prow[0]['budget']} ({prow[0]['n_init']}) | " + " | ".join(cells) + " |")
    missing = [p for p in PROBLEMS if not any(r["problem"] == p for r in ok)]
    loads = [r["loadavg"] for r in ok]
    lines += [
        "",
        "The plan is 10 seeds on the synthetic problems (" + ", ".join(SYNTHETIC) + ") and as many as fit "
        "on the others. "
        + (f"**Partial:** not yet run: {', '.join(missing)}. " if missing else "")
        + (
            f"{'**Partial:** f' if not missing else 'F'}ewer than 10 seeds so far: {len(short)} of the cells "
            "above (the reproduction commands complete them)."
            if short
            else ""
        ),
        "",
        (
            f"The machine (2 cores) was shared with other jobs: the 1-minute load average at the runs' start "
            f"ranged {min(loads):.1f}-{max(loads):.1f}, so overhead seconds are inflated and noisy; compare "
            "them within a problem (the optimisers of one seed run back to back, interleaved), as ratios."
        ),
        "",
    ]
    return lines


def _short_commit(c: str) -> str:
    if " " in c or len(c) < 40:
        return c
    return c[:12] + ("+dirty" if c.endswith("+dirty") else "")


def _versions_section(rows: list[dict]) -> list[str]:
    lines = ["## Versions", "", "| optimiser | version at run time |", "|---|---|"]
    seen = {}
    for r in rows:
        seen.setdefault(r["optimizer"], r.get("version", ""))
    for name in OPTIMISERS:
        if name in seen:
            lines.append(f"| {name} | {seen[name]} |")
    bnnbo_rows = [r for r in rows if r["optimizer"].startswith("bnnbo") and r["status"] == "ok"]
    commits: dict[str, int] = {}
    for r in bnnbo_rows:
        key = r.get("bnnbo_commit") or "none recorded (stale: made before the current default loop)"
        commits[key] = commits.get(key, 0) + 1
    if commits:
        lines += [
            "",
            "bnnbo's rows were made at: "
            + "; ".join(f"{_short_commit(c)} ({n} runs)" for c, n in sorted(commits.items()))
            + "."
            + (
                " (+dirty: bnnbo/ or benchmarks/peers.py had uncommitted changes when the process started.)"
                if any(c.endswith("+dirty") for c in commits)
                else ""
            ),
        ]
    torch_v = sorted({r.get("torch", "") for r in rows})
    lines += [
        "",
        f"torch {', '.join(torch_v)}; Python {', '.join(sorted({r.get('python', '') for r in rows}))}.",
        "",
        INSTALL_NOTE,
        "",
    ]
    return lines


def _problem_section(problem: str, q: int, rows: list[dict], summary: list) -> list[str]:
    spec = PROBLEMS[problem]
    best_known, known_text = _best_known(rows)
    metric, _, lower = _metric(rows, best_known)
    groups: dict[str, list[dict]] = {}
    for r in rows:
        groups.setdefault(r["optimizer"], []).append(r)
    fig = FIGURES / f"peers-{problem}-q{q}.png"
    _plot(problem, groups, best_known, fig)
    lines = [
        f"## {problem} (q = {q})",
        "",
        f"d = {spec.build().dim}, budget {rows[0]['budget']} with an initial design of {rows[0]['n_init']}"
        + (f"; {spec.note}" if spec.note else "")
        + ". "
        + (
            f"Regret is measured from {known_text} ({_fmt(best_known)})."
            if best_known is not None
            else "Hypervolume w.r.t. the problem's reference point."
        ),
        "",
        f"| optimiser | seeds | median {metric} | mean +- SE | seeds' range | median overhead s / iteration |",
        "|---|---|---|---|---|---|",
    ]
    stats = {}
    for name in [n for n in OPTIMISERS if n in groups]:
        g = groups[name]
        _, vals, _ = _metric(g, best_known)
        s = _stats(vals)
        s["overhead"] = statistics.median([r["overhead_median"] for r in g])
        stats[name] = s
        lines.append(
            f"| {_label(name, g)} | {s['n']} | {_fmt(s['median'])} | {_fmt(s['mean'])} +- {_fmt(s['se'])} | "
            f"{_fmt(s['lo'])} - {_fmt(s['hi'])} | {s['overhead']:.3f} |"
        )
    lines += ["", f"![{problem}](figures/{fig.name})", ""]
    first = [
        n for n, g in groups.items() if best_known is not None and all(r["trace"][0] >= best_known - 1e-9 for r in g)
    ]
    if first:
        lines += [
            (
                f"{', '.join(first)}: the first evaluation was already optimal in every seed, so the regret "
                "here reflects where the initial design starts (Ax's first trial is the centre of the search "
                "space) rather than the model; left out of the best-peer comparison below."
            ),
            "",
        ]
    stuck = [
        n
        for n, g in groups.items()
        if best_known is not None and n not in first and all(r["trace"][-1] <= r["trace"][0] for r in g)
    ]
    if stuck:
        lines += [
            (
                f"{', '.join(stuck)}: the first evaluation was the best of the run in every seed (no later "
                "evaluation improved on it), so the result is where the initial design starts"
                + (" (Ax's first trial is the centre of the search space)" if "ax" in stuck else "")
                + " rather than what the model found; it stays in the comparison below."
            ),
            "",
        ]
    bnnbo_names = [n for n in stats if n.startswith("bnnbo")]
    peers = [n for n in stats if not n.startswith("bnnbo") and n != "random" and n not in first]
    if "bnnbo-gp" in stats and peers:
        key = (lambda n: stats[n]["median"]) if lower else (lambda n: -stats[n]["median"])
        best_peer = min(peers, key=key)
        best_bnnbo = min(bnnbo_names, key=key)
        tie = _ties(stats["bnnbo-gp"], stats[best_peer], lower)
        over = _overhead_ratio(groups)
        summary.append(
            {
                "problem": problem,
                "q": q,
                "best_peer": best_peer,
                "best_bnnbo": best_bnnbo,
                "tie": tie,
                "best_bnnbo_ties": _ties(stats[best_bnnbo], stats[best_peer], lower),
                "overhead_ratio": over and over["ratio"],
                "overhead": over,
                "seeds": {n: stats[n]["n"] for n in ("bnnbo-gp", best_peer)},
                "stale": any(is_stale(r) for n in bnnbo_names for r in groups[n]),
            }
        )
        lines += [
            f"**Verdict:** best peer by median: **{best_peer}**; best bnnbo surrogate or setting: **{best_bnnbo}**. "
            f"bnnbo's default (`gp`) {'at least ties' if tie else '**loses to**'} the best peer "
            "(better median, or mean +- SE intervals that overlap)"
            + (f"; overhead per iteration: {_overhead_text(over)}." if over else "."),
            "",
        ]
        if not tie:
            a, b = stats["bnnbo-gp"], stats[best_peer]
            lines += [
                (
                    f"bnnbo-gp's median is {_fmt(a['median'])} against {best_peer}'s {_fmt(b['median'])}, and "
                    + (
                        f"the mean +- SE intervals ({_fmt(a['mean'])} +- {_fmt(a['se'])} and {_fmt(b['mean'])} +- "
                        f"{_fmt(b['se'])}) do not overlap"
                        if a["n"] > 1 and b["n"] > 1
                        else f"{best_peer if b['n'] == 1 else 'bnnbo-gp'} has a single seed, so there is no SE "
                        "interval to compare (more seeds would settle it)"
                    )
                    + (
                        f"; {best_bnnbo}, bnnbo's best surrogate or setting here, "
                        + (
                            "at least ties it"
                            if _ties(stats[best_bnnbo], b, lower)
                            else f"does not tie it either (median {_fmt(stats[best_bnnbo]['median'])})"
                        )
                        if best_bnnbo != "bnnbo-gp"
                        else ""
                    )
                    + "."
                ),
                "",
            ]
            note = LOSS_NOTES.get(problem) if q == 1 else BATCH_LOSS_NOTE
            if note:
                lines += ["*Why, and what would fix it:* " + " ".join(note.split()), ""]
        note = OVERHEAD_NOTES.get(problem) if q == 1 else BATCH_OVERHEAD_NOTE
        if over and over["ratio"] > 1.0 and note:
            lines += ["*Why the overhead is higher here:* " + " ".join(note.split()), ""]
    if "bnnbo-gp" not in stats and peers:
        key = (lambda n: stats[n]["median"]) if lower else (lambda n: -stats[n]["median"])
        lines += [
            (
                f"Best peer by median: **{min(peers, key=key)}**. bnnbo's rows on this problem are pending "
                "(they are run after the change to bnnbo's default loop)."
            ),
            "",
        ]
    if "random" in stats:
        worse = [
            n
            for n in bnnbo_names
            if (stats[n]["median"] > stats["random"]["median"]) == lower
            and stats[n]["median"] != stats["random"]["median"]
        ]
        if worse:
            lines += [f"Worse than random search by median here: {', '.join(worse)}.", ""]
    return lines


def _target_section(summary: list[dict]) -> list[str]:
    lines = [
        "## The target",
        "",
        (
            "Target (issue 14): bnnbo's default at least ties the best peer (overlapping SE or better "
            "median) on >= 5 of the 7 problems, with optimiser overhead per iteration no more than "
            "Optuna's GPSampler at equal budget."
        ),
        "",
    ]
    q1 = {s["problem"]: s for s in summary if s["q"] == 1}
    if not q1:
        return lines + ["No problem has results yet.", ""]
    ties = [p for p, s in q1.items() if s["tie"]]
    losses = [p for p, s in q1.items() if not s["tie"]]
    pending = [p for p in PROBLEMS if p not in q1]
    over = {p: s["overhead"] for p, s in q1.items() if s["overhead"]}
    cheaper = [p for p, o in over.items() if o["ratio"] <= 1.0]
    dearer = [p for p, o in over.items() if o["ratio"] > 1.0]
    target_ties = 5
    lines += [
        (
            f"**Measured: bnnbo's default (`gp`) ties or beats the best peer on {len(ties)} of "
            f"{len(PROBLEMS)} problems**"
            + (f" ({', '.join(ties)})" if ties else "")
            + (f"; it loses on {', '.join(losses)}" if losses else "")
            + (f"; not compared yet: {', '.join(pending)}" if pending else "")
            + ". "
            + f"**Overhead vs GPSampler: at most GPSampler's on {len(cheaper)} of {len(over)} problems**"
            + (f" (above it on {', '.join(dearer)})" if dearer else "")
            + "."
        ),
        "",
        "| problem | seeds (bnnbo-gp / best peer) | best peer | bnnbo-gp ties it | best bnnbo surrogate or setting (ties it) | "
        "overhead bnnbo-gp / GPSampler |",
        "|---|---|---|---|---|---|",
    ]
    for p in PROBLEMS:
        if p not in q1:
            lines.append(f"| {p} | - | - | not compared yet | - | - |")
            continue
        s = q1[p]
        o = s["overhead"]
        seeds = " / ".join(str(n) for n in s["seeds"].values())
        lines.append(
            f"| {p} | {seeds} | {s['best_peer']} | {'yes' if s['tie'] else '**no**'} | "
            f"{s['best_bnnbo']} ({'yes' if s['best_bnnbo_ties'] else 'no'}) | "
            + (f"{o['ratio']:.2f}x" + ("" if o["interleaved"] else " (not interleaved)") if o else "-")
            + " |"
        )
    accuracy_met = len(ties) >= target_ties
    overhead_met = bool(over) and not dearer
    lines += [
        "",
        (
            f"The accuracy half of the target (>= {target_ties} of {len(PROBLEMS)}) is "
            + ("**met**" if accuracy_met else "**not met**")
            + (f" with {len(pending)} problem(s) still to compare" if pending and not accuracy_met else "")
            + "; the overhead half is "
            + ("**met**." if overhead_met else "**not met**.")
        ),
    ]
    few = sorted({p for p, s in q1.items() if min(s["seeds"].values()) < 10})
    if few:
        lines += [
            "",
            (
                f"On {', '.join(few)} the comparison rests on fewer than 10 seeds (counts above), so a tie "
                "there is weaker evidence than on the others: with few seeds the SE intervals are wide."
            ),
        ]
    if any(not o["interleaved"] for o in over.values()):
        lines += [
            "",
            (
                "Overhead ratios marked *not interleaved* pair rows of one seed made in different "
                "sessions, under different loads (bnnbo's rows were re-run after a change to its loop). "
                "The side-by-side timing of bnnbo's default against GPSampler, interleaved in one run, is "
                "`benchmarks/default_loop.py` in docs/performance.md."
            ),
        ]
    stale = [p for p, s in q1.items() if s["stale"]]
    if stale:
        lines += [
            "",
            (
                f"**Provisional:** bnnbo's rows on {', '.join(stale)} are stale (made before the current "
                "default loop), so this is the old loop's outcome; it is pending their re-run."
            ),
        ]
    lines += ["", "### Why, and what would fix it", "", *WHY_NOTE.strip().splitlines(), ""]
    return lines


def _limits_section(not_ok: list[dict]) -> list[str]:
    lines = ["## What each peer could not do", ""]
    static = [(n, s.why_not_mo) for n, s in OPTIMISERS.items() if s.why_not_mo]
    static += [(n, s.why_not_batch) for n, s in OPTIMISERS.items() if s.why_not_batch]
    for name, why in static:
        lines.append(f"- **{name}**: {why}.")
    seen = set()
    for r in not_ok:
        key = (r["optimizer"], r["problem"], r["q"], r["reason"][:200])
        if key in seen or r["reason"].startswith("unsupported"):
            continue
        seen.add(key)
        lines.append(
            f"- **{r['optimizer']}** on {r['problem']} (q = {r['q']}, seed {r['seed']}): "
            f"{r['status']}: `{r['reason'][:300]}`"
        )
    return lines + [""]


def _settings_section(ok: list[dict]) -> list[str]:
    lines = [
        "## Settings",
        "",
        (
            "Each optimiser's own defaults except the initial-design size (the sizes "
            "below are those of the first problem run; each problem's is in its section):"
        ),
        "",
    ]
    seen = {}
    for r in ok:
        seen.setdefault(r["optimizer"], r.get("settings"))
    for name in OPTIMISERS:
        if name in seen:
            lines.append(f"- **{name}**: `{json.dumps(seen[name], sort_keys=True)}`")
    lines += [
        "",
        (
            "Conventions: Optuna and Ax get the problem in its source direction (minimise for "
            "the negated problems), HEBO and SMAC3 minimise the loss; bnnbo maximises. Integer "
            "inputs are integers and categorical inputs are categories in every tool."
        ),
        "",
        (
            "Initial designs (same size, each tool's own kind): bnnbo's four surrogates share one "
            "scrambled-Sobol design per seed; Optuna's TPE and GPSampler sample their startup trials "
            "uniformly at random; HEBO draws a Sobol sample; SMAC3's BlackBoxFacade a Sobol design; "
            "Ax evaluates the centre of the space and then Sobol points."
        ),
        "",
    ]
    return lines


def _ax_surrogate_section() -> list[str]:
    return ["## A bnnbo surrogate inside Ax", "", *AX_NOTE.strip().splitlines(), ""]


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="run (or resume) problems x optimisers x seeds")
    r.add_argument("--problems", default="all")
    r.add_argument("--optimizers", default="all")
    r.add_argument("--seeds", default="0-9", help="e.g. 0-9 or 0,3,5")
    r.add_argument("--q", type=int, default=1)
    r.add_argument("--store", default=str(STORE))
    r.add_argument("--until", default=None, help="HH:MM UTC: start no new run after this time")
    d = sub.add_parser("doc", help="write docs/peers.md from the store")
    d.add_argument("--store", default=str(STORE))
    d.add_argument("--out", default=str(DOC))
    sub.add_parser("versions", help="which peers import, and their versions")
    x = sub.add_parser("drop", help="move some optimisers' rows out of the store, so they are run again")
    x.add_argument("--optimizers", required=True, help="e.g. bnnbo-gp,bnnbo-ibnn,bnnbo-hmc,bnnbo-auto")
    x.add_argument("--problems", default="all")
    x.add_argument("--q", type=int, default=None, help="only the rows of this batch size (default: all)")
    x.add_argument("--store", default=str(STORE))
    args = ap.parse_args(argv)
    {"run": cmd_run, "doc": cmd_doc, "versions": cmd_versions, "drop": cmd_drop}[args.cmd](args)


if __name__ == "__main__":
    main()
