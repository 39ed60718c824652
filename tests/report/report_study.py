"""A small stored study written row by row through the Store (no fitting: fast and exact).

Two problems (Branin: one objective, optimum known; BraninCurrin: two objectives, hypervolume),
three surrogates (gp; hmc with MCMC diagnostics; auto with its choices), three seeds. One hmc
run fails part-way; with ``partial=True`` one auto run is still running and one is pending.
"""

from __future__ import annotations

import numpy as np

from bnnbo.storage import Store
from bnnbo.study import parse_study

STUDY = """
name = "rep"
seeds = 3
[problems.branin]
n_init = 3
q = 1
iterations = 4
[problems.bc]
problem = "branincurrin"
n_init = 3
q = 2
iterations = 2
[surrogates.gp]
[surrogates.hmc]
[surrogates.auto]
"""
PROBLEMS = ("branin", "bc")
SURROGATES = ("gp", "hmc", "auto")
FAILED = ("branin", "hmc", 1)
RUNNING = ("bc", "auto", 2)
PENDING = ("branin", "auto", 2)
TRACEBACK = 'Traceback (most recent call last):\n  File "hmc.py"\nSurrogateError: HMC diverged'


def _diagnostics(surrogate: str, rng: np.random.Generator, batch: int) -> dict:
    if surrogate == "hmc":
        return {
            "acceptance": float(rng.uniform(0.6, 0.9)),
            "rhat_max": float(rng.uniform(1.0, 1.2)),
            "ess_min": float(rng.uniform(10, 50)),
            "divergences": int(rng.integers(0, 3)),
            "warm_start": batch > 3,
            "rhat_median": "nan",
        }
    if surrogate == "auto":
        choice = "gp" if rng.uniform() < 0.7 else "ibnn"
        scores = {"gp": float(rng.normal(-1, 0.1)), "ibnn": float(rng.normal(-1.3, 0.1))}
        return {
            "choice": choice,
            "scores": scores,
            "scored": batch % 2 == 1,
            "holdout": "recent",
            "fit": {"var_w": [1.0]},
        }
    return {}


def _y(problem: str, rng: np.random.Generator) -> list[float]:
    if problem == "branin":
        return [-float(rng.uniform(0.4, 60.0))]
    # inside the reference box and well under the maximal hypervolume
    return [-float(rng.uniform(8.0, 18.0)), -float(rng.uniform(2.0, 6.0))]


def _evaluations(spec, rng: np.random.Generator, n: int) -> list[list[dict]]:
    """The run's first ``n`` evaluations, grouped by the step that commits them."""
    steps, index, batch = [], 0, 0
    while index < n:
        initial = index < spec.n_init
        size = min(spec.n_init if initial else spec.q, n - index)
        fit, acq = (0.0, 0.0) if initial else (float(rng.uniform(0.1, 2)), float(rng.uniform(0.1, 1)))
        diag = {} if initial else _diagnostics(spec.surrogate, rng, batch)
        steps.append(
            [
                {
                    "index": index + i,
                    "batch": batch,
                    "x": [0.5, 0.5],
                    "y": _y(spec.problem, rng),
                    "initial": initial,
                    "fit_seconds": fit,
                    "acq_seconds": acq,
                    "diagnostics": diag,
                }
                for i in range(size)
            ]
        )
        index, batch = index + size, batch + 1
    return steps


def make_study(url: str, partial: bool) -> None:
    study = parse_study(STUDY)
    with Store(url) as store:
        sid = store.save_study(study)
        for k, spec in enumerate(study.cells()):
            cell = (spec.problem, spec.surrogate, spec.seed)
            run = store.add_run(sid, spec)
            rng = np.random.default_rng(k)
            if partial and cell == PENDING:
                continue
            n = spec.budget - 2 if cell == FAILED or (partial and cell == RUNNING) else spec.budget
            for i, step in enumerate(_evaluations(spec, rng, n)):
                done = step[-1]["index"] + 1 == spec.budget
                store.commit_step(run.id, step, None, None, "finished" if done else "running")
            if cell == FAILED:
                store.set_status(run.id, "failed", "SurrogateError: HMC diverged", TRACEBACK)
