"""Run a study: cells -> runs in the store -> steps on an executor -> each step committed.

``run_step`` is the one pure unit of work every executor runs: it rebuilds the Optimizer from
a run's stored evaluations and surrogate state, does one iteration of the loop
(``bnnbo.driver.step``) and returns what is new. Because every random stream of an ask
derives from (seed, evaluations so far), a run continued from the store — after a crash, on
another worker, or in another process — proposes exactly what an uninterrupted run would.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import signal
import threading
import traceback
import warnings
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import torch

from bnnbo import version
from bnnbo.driver import step
from bnnbo.errors import ConfigError
from bnnbo.executors import InProcessExecutor, set_threads
from bnnbo.metrics import final_value
from bnnbo.optimizer import Optimizer
from bnnbo.problems import Problem, ProblemInfo
from bnnbo.progress import NullProgress, RunEvent
from bnnbo.records import Evaluation, RunStatus
from bnnbo.space import DTYPE
from bnnbo.statefile import decode as decode_state
from bnnbo.statefile import encode as encode_state
from bnnbo.statefile import from_store as state_from_store
from bnnbo.storage import Run, Store, heartbeat_seconds
from bnnbo.study import RunSpec, Study

log = logging.getLogger("bnnbo")

#: the key of each stored evaluation's diagnostics that names the code the step ran with
CODE_KEY = "code"


@dataclass
class StepOutcome:
    """What one step produced: new evaluations (store dicts) and the state after it, or an error."""

    evaluations: list[dict[str, Any]]
    state: bytes | None
    error: str | None = None
    traceback: str | None = None


def build_optimizer(spec: RunSpec, problem) -> Optimizer:
    return Optimizer.for_problem(
        problem,
        spec.surrogate_name,
        seed=spec.seed,
        q=spec.q,
        n_init=spec.n_init,
        acquisition=spec.acquisition,
        acq_optimizer=spec.acq_optimizer,
        surrogate_settings=spec.settings,
    )


def run_step(
    spec: RunSpec, history: list[dict[str, Any]], state: bytes | None, threads: int | None = None
) -> StepOutcome:
    """One iteration of ``spec``'s loop after ``history``; exceptions become a failed outcome."""
    from bnnbo.problems import get_problem

    set_threads(threads)
    try:
        with warnings.catch_warnings():  # the paper mode's qEI / qEHVI warn on every call
            warnings.filterwarnings("ignore", message=".*qExpected.*numerical issues.*")
            problem = get_problem(spec.problem_name, **spec.problem_options)
            check_identity(spec, problem)
            opt = build_optimizer(spec, problem)
            opt.restore([Evaluation.from_row(e) for e in history], decode_state(state))
            n0 = opt.n_told
            step(opt, problem, spec.budget)
        new = [e.to_row(n0 + i) for i, e in enumerate(opt.history[n0:])]
        code = version.code_label()  # read by the campaign's manifest: which code made the results
        for row in new:
            row["diagnostics"] = {**row["diagnostics"], CODE_KEY: code}
        return StepOutcome(new, encode_state(opt.surrogate_state))
    except Exception as exc:  # noqa: BLE001 - isolate the failure to this run; the driver records it
        return failure(exc)


def check_identity(spec: RunSpec, problem: Problem) -> None:
    """Refuse a step whose problem, built here, is another function than the run's: e.g. a
    worker whose ``$BNNBO_NNDRAW_WEIGHTS`` names another file, or none."""
    got = problem.identity()
    if got != spec.problem_identity:
        raise ConfigError(
            f"run {spec.problem} / {spec.surrogate} / seed {spec.seed}: problem {spec.problem_name!r} here is "
            f"{got or 'defined by its options alone'}, but the run was made on {spec.problem_identity or 'that'}; "
            "set the same weights file (option or environment) wherever the study runs"
        )


def failure(exc: BaseException) -> StepOutcome:
    tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return StepOutcome([], None, error=f"{type(exc).__name__}: {exc}"[:2000], traceback=tb[-20000:])


# ---- the driver ---------------------------------------------------------------------------------
@dataclass
class ActiveRun:
    """A run the driver is advancing: its stored history, state and the problem's metadata."""

    record: Run
    history: list[dict[str, Any]]
    state: bytes | None
    problem: ProblemInfo | None = None

    @property
    def spec(self) -> RunSpec:
        return self.record.spec

    @property
    def n(self) -> int:
        return len(self.history)

    def best(self) -> float | None:
        """Best value so far (one objective) or dominated hypervolume (several)."""
        if not self.history:
            return None
        Y = torch.tensor([e["y"] for e in self.history], dtype=DTYPE)
        return final_value(Y, self.problem.ref_point if self.problem is not None else None)

    def event(self) -> RunEvent:
        s = self.spec
        return RunEvent(
            run_id=self.record.id,
            problem=s.problem,
            surrogate=s.surrogate,
            seed=s.seed,
            budget=s.budget,
            n=self.n,
            best=self.best(),
            objectives=self.problem.num_objectives if self.problem is not None else 1,
            error=self.record.error,
        )


@dataclass
class StudyOutcome:
    study: str
    run_ids: list[int]
    finished: int = 0
    failed: list[tuple[RunSpec, str]] = field(default_factory=list)
    skipped: int = 0
    interrupted: bool = False

    @property
    def ok(self) -> bool:
        return not self.failed and not self.interrupted


class SettingsChangedError(ConfigError):
    """A cell's stored run was made with other settings than the study file now gives."""


def prepare_runs(store: Store, study: Study, force_new: bool = False) -> tuple[int, list[Run]]:
    """The study's runs in the store, one per cell, created where missing.

    A cell whose stored config differs (other settings under the same labels) is refused,
    listing every such cell, unless ``force_new``: then the old run is kept as "superseded"
    and a new one starts.
    """
    # nothing is written before the checks pass: a refused study keeps its stored source text
    existing = _stored_runs(store, study)
    cells = study.cells()
    if not force_new:
        check_settings(store, study)
    study_id = store.save_study(study)
    records = []
    for spec in cells:
        old = existing.get((spec.problem, spec.surrogate, spec.seed))
        if old is not None and _conflicts(old, spec):
            store.set_status(old.id, RunStatus.SUPERSEDED)
            old = None
        if old is None:
            records.append(store.add_run(study_id, spec))
        else:
            if old.spec != spec:
                store.update_spec(old.id, spec)
            records.append(dataclasses.replace(old, spec=spec))
    return study_id, records


def _stored_runs(store: Store, study: Study) -> dict[tuple[str, str, int], Run]:
    known_id = store.study_id(study.name)
    return {r.cell: r for r in store.runs(known_id)} if known_id is not None else {}


def settings_changes(store: Store, study: Study) -> list[str]:
    """One line per cell whose stored run was made with other settings (or on another function)."""
    existing = _stored_runs(store, study)
    changes = []
    for spec in study.cells():
        old = existing.get((spec.problem, spec.surrogate, spec.seed))
        if old is not None and _conflicts(old, spec):
            changes.append(_describe_change(spec, old.spec, old.n_evaluations))
    return changes


def check_settings(store: Store, study: Study) -> None:
    """Raise SettingsChangedError listing every cell ``settings_changes`` finds."""
    changes = settings_changes(store, study)
    if changes:
        lines = "\n".join(f"  - {c}" for c in changes)
        raise SettingsChangedError(
            f"study {study.name!r}: {len(changes)} run(s) in the store were made with other settings:\n"
            f"{lines}\nUse new labels for the new settings, or --force-new to start those runs again "
            "(the old runs are kept, marked superseded)."
        )


def _conflicts(old: Run, spec: RunSpec) -> bool:
    """Other settings, or a budget below what the run has stored (its extra evaluations would
    no longer belong to the study the store describes)."""
    return old.spec.comparable() != spec.comparable() or old.n_evaluations > spec.budget


def _describe_change(new: RunSpec, old: RunSpec, stored: int = 0) -> str:
    """``problem / surrogate / seed N: settings.var_w: 10.0 -> 5.0; q: 1 -> 2``."""
    a, b = old.comparable(), new.comparable()
    diffs = []
    if stored > new.budget:
        diffs.append(
            f"iterations: {old.iterations} -> {new.iterations} (budget {new.budget}, but {stored} "
            "evaluations are stored)"
        )
    for key in [*a, *(k for k in b if k not in a)]:  # a key only one side has is a change too
        if isinstance(a.get(key), dict) and isinstance(b.get(key), dict):
            for sub in sorted(set(a[key]) | set(b[key])):
                if a[key].get(sub) != b[key].get(sub):
                    diffs.append(f"{key}.{sub}: {a[key].get(sub)!r} -> {b[key].get(sub)!r}")
        elif a.get(key) != b.get(key):
            diffs.append(f"{key}: {a.get(key)!r} -> {b.get(key)!r}")
    return f"{new.problem} / {new.surrogate} / seed {new.seed}: " + "; ".join(diffs)


def run_study(study: Study, store: Store, executor=None, progress=None, force_new: bool = False) -> StudyOutcome:
    """Bring every cell of ``study`` to its budget; resume whatever the store already holds.

    Finished runs are skipped, partial, failed and interrupted ones continue from their stored
    evaluations. A failing run is recorded and the others go on; Ctrl-C (KeyboardInterrupt)
    marks the runs in flight "interrupted" and returns, with every finished step committed.
    """
    interval = heartbeat_seconds()  # a bad $BNNBO_HEARTBEAT_SECONDS fails before any work
    own = executor is None
    executor = executor or InProcessExecutor()
    progress = progress or NullProgress()
    _, records = prepare_runs(store, study, force_new)
    outcome = StudyOutcome(study.name, [r.id for r in records])
    todo = deque(r for r in records if not r.done)
    for r in records:
        if r.done and r.status != RunStatus.FINISHED:  # e.g. the budget was lowered below what is stored
            store.set_status(r.id, RunStatus.FINISHED)
    outcome.skipped = len(records) - len(todo)
    inflight: dict[Any, ActiveRun] = {}
    progress.start(study.name, len(records), outcome.skipped, executor.describe())
    heartbeat = Heartbeat(store, lambda: [r.record.id for r in list(inflight.values())], interval)
    try:
        while todo or inflight:
            while todo and len(inflight) < executor.capacity:
                run = _activate(store, todo.popleft())
                inflight[executor.submit(run_step, run.spec, run.history, run.state, executor.threads)] = run
                progress.run_started(run.event())
            handle, result = executor.next_done()
            run = inflight[handle]
            again = _apply(store, run, result, outcome, progress)
            del inflight[handle]
            if again:
                inflight[executor.submit(run_step, run.spec, run.history, run.state, executor.threads)] = run
    except KeyboardInterrupt:
        outcome.interrupted = True
        heartbeat.stop()
        for run in inflight.values():
            if run.n < run.spec.budget:
                store.set_status(run.record.id, RunStatus.INTERRUPTED)
    finally:
        heartbeat.stop()
        progress.stop()
        if own:
            executor.close()
    return outcome


@contextlib.contextmanager
def sigterm_as_interrupt():
    """SLURM and ``kill`` send SIGTERM, and a study started in the background with ``&`` ignores
    SIGINT: stop on SIGTERM as cleanly as on Ctrl-C (handlers: main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


class Heartbeat:
    """Writes the heartbeat of the runs in flight every ``heartbeat_seconds()`` from a daemon
    thread, so a run stays "running" through a long fit and turns "interrupted" in
    ``bnnbo status`` soon after its driver dies (SIGKILL, power loss) and stops beating."""

    def __init__(self, store: Store, run_ids, interval: float | None = None):
        self.store, self.run_ids, self.interval = store, run_ids, heartbeat_seconds(interval)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="bnnbo-heartbeat", daemon=True)
        self._thread.start()

    def _beat(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.store.heartbeat(self.run_ids())
            except Exception as exc:  # noqa: BLE001 - a busy store delays a beat, never the study
                log.debug("heartbeat not written: %s", exc)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join()


def _activate(store: Store, record: Run) -> ActiveRun:
    from bnnbo.problems import problem_info

    history, state = store.history(record.id)
    # checked here, in the driver: an older store's pickle is converted or dropped, never unpickled
    s = record.spec
    state = state_from_store(state, f"run {record.id} ({s.problem} / {s.surrogate} / seed {s.seed})")
    problem = problem_info(record.spec.problem_name, **record.spec.problem_options)
    store.set_status(record.id, RunStatus.RUNNING)
    return ActiveRun(record=record, history=history, state=state, problem=problem)


def _apply(store: Store, run: ActiveRun, result: Any, outcome: StudyOutcome, progress) -> bool:
    """Commit one step's result; True when the run needs another step."""
    if isinstance(result, BaseException):
        result = failure(result)
    if result.error is not None:
        store.set_status(run.record.id, RunStatus.FAILED, result.error, result.traceback)
        run.record = dataclasses.replace(run.record, status=RunStatus.FAILED, error=result.error)
        outcome.failed.append((run.spec, result.error))
        progress.run_finished(run.event(), RunStatus.FAILED)
        return False
    done = run.n + len(result.evaluations) >= run.spec.budget
    run.history.extend(result.evaluations)
    run.state = result.state
    store.commit_step(
        run.record.id, result.evaluations, result.state, run.best(), RunStatus.FINISHED if done else RunStatus.RUNNING
    )
    progress.run_advanced(run.event())
    if done:
        outcome.finished += 1
        progress.run_finished(run.event(), RunStatus.FINISHED)
    return not done
