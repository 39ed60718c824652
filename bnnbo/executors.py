"""Executors run the steps of a study: in-process (default) or on Dask.

Both offer the same three calls: ``submit(fn, *args) -> handle``, ``next_done() -> (handle,
result)`` (the result is the exception instance when the call itself could not complete, e.g.
a worker died), and ``close()``. The driver stays the single writer to the store; executors
only compute.

Threads: torch's intra-op threads are set once per process: ``--threads``, else
``$BNNBO_THREADS``, else ``$OMP_NUM_THREADS``, else the default policy ``DEFAULT_THREADS``
(capped at the cores a worker owns), so that workers x threads never exceed the machine's cores.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
from collections import deque
from collections.abc import Callable
from typing import Any

from bnnbo.errors import ConfigError, UnavailableError

POLL_SECONDS = 5.0
NO_WORKER_TIMEOUT = 120.0
#: seconds to reach a Dask scheduler before giving up (a typo in --scheduler should fail fast)
CONNECT_TIMEOUT = 5.0


def available_cores() -> int:
    """Cores this process may run on (the affinity mask, which containers and SLURM set)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


THREADS_ENV = "BNNBO_THREADS"
#: intra-op threads per process unless told otherwise. The fits are small (n <= a few hundred
#: points, networks of a few thousand weights): a second thread gains little on a quiet machine
#: and costs several times over when another process wants the core (docs/performance.md,
#: "Threads on a busy machine"); one process per core (--workers) is the way to use more cores.
DEFAULT_THREADS = 1


def requested_threads(threads: int | None = None) -> int | None:
    """``threads`` (``--threads``), else ``$BNNBO_THREADS``, else None; ConfigError if not >= 1."""
    if threads is None:
        raw = os.environ.get(THREADS_ENV, "").strip()
        if not raw:
            return None
        if not raw.isdigit() or int(raw) < 1:
            raise ConfigError(f"${THREADS_ENV} = {raw!r}; expected an integer >= 1 (torch threads per process)")
        return int(raw)
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ConfigError(f"--threads {threads}: expected an integer >= 1")
    return threads


def default_threads(cores: int | None = None) -> int:
    """Threads for a process owning ``cores`` (default: all): ``$BNNBO_THREADS``, else
    ``$OMP_NUM_THREADS`` (the user's or the scheduler's choice), else the policy
    ``DEFAULT_THREADS``, at most ``cores`` in the last case."""
    asked = requested_threads()
    if asked is not None:
        return asked
    env = os.environ.get("OMP_NUM_THREADS", "")
    if env.isdigit() and int(env) > 0:
        return int(env)
    return max(1, min(DEFAULT_THREADS, cores or available_cores()))


def set_threads(n: int | None) -> None:
    """Set torch's intra-op threads for this process; a no-op when already set to ``n``."""
    if n is None:
        return
    import torch

    if torch.get_num_threads() != n:
        torch.set_num_threads(n)


class InProcessExecutor:
    """Runs each call in the driver process when its result is asked for (so Ctrl-C lands there)."""

    capacity = 1

    def __init__(self, threads: int | None = None):
        self.threads = requested_threads(threads) or default_threads()
        set_threads(self.threads)
        self._queue: deque[tuple[int, Callable, tuple]] = deque()
        self._ids = itertools.count()

    def submit(self, fn: Callable, *args: Any) -> int:
        handle = next(self._ids)
        self._queue.append((handle, fn, args))
        return handle

    def next_done(self) -> tuple[int, Any]:
        handle, fn, args = self._queue.popleft()
        return handle, fn(*args)

    def close(self) -> None:
        self._queue.clear()

    def describe(self) -> str:
        return f"in-process, {self.threads} thread(s)"


class DaskExecutor:
    """Steps as Dask tasks on a LocalCluster of ``workers`` processes or on ``scheduler``.

    A LocalCluster gets one task slot per worker and ``threads`` (default cores // workers)
    torch threads per worker. On an existing cluster each task keeps the workers' own thread
    setting unless ``threads`` is given (start workers with ``--nthreads 1`` and
    ``OMP_NUM_THREADS`` = cores per worker). A LocalCluster starts at the first use, so a study
    with nothing left to run starts nothing; a scheduler is connected to at once, so that a
    wrong address fails within ``CONNECT_TIMEOUT`` seconds, before anything is stored.
    """

    def __init__(self, workers: int | None = None, scheduler: str | None = None, threads: int | None = None):
        try:
            import distributed  # noqa: F401
        except ImportError as exc:  # pragma: no cover - a core dependency
            raise UnavailableError(f"Dask execution needs dask[distributed]: {exc}") from None
        self.scheduler, self.workers = scheduler, None if scheduler else (workers or 1)
        threads = requested_threads(threads)
        self.threads = threads if scheduler else (threads or default_threads(_local_threads(self.workers or 1)))
        self.cluster = self.client = None
        self._futures: set = set()
        if scheduler:  # connect now: an unreachable address fails before the store is touched
            self._client()

    def _client(self):
        if self.client is None:
            from distributed import Client, LocalCluster

            if self.scheduler:
                try:
                    self.client = Client(self.scheduler, timeout=f"{CONNECT_TIMEOUT}s")
                except (OSError, TimeoutError, asyncio.TimeoutError, ValueError) as exc:
                    raise UnavailableError(
                        f"cannot reach the Dask scheduler {self.scheduler!r} within {CONNECT_TIMEOUT:g} s "
                        f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else 'no answer'}); "
                        "expected a running scheduler at tcp://host:port (see `dask scheduler`)"
                    ) from None
            else:
                self.cluster = LocalCluster(
                    n_workers=self.workers,
                    threads_per_worker=1,
                    processes=True,
                    host="127.0.0.1",
                    dashboard_address=None,
                    silence_logs=logging.ERROR,
                )
                self.client = Client(self.cluster)
        return self.client

    @property
    def capacity(self) -> int:
        if self.workers is not None:
            return self.workers
        return max(1, sum(self._client().nthreads().values()))

    def submit(self, fn: Callable, *args: Any):
        future = self._client().submit(fn, *args, pure=False)
        self._futures.add(future)
        return future

    def next_done(self) -> tuple[Any, Any]:
        future = self._wait_one()
        self._futures.discard(future)
        try:
            return future, future.result()
        except Exception as exc:  # noqa: BLE001 - the task could not run: worker lost, ...
            return future, exc

    def _wait_one(self):
        """The next finished future; fails instead of waiting forever when no worker is left
        (e.g. workers that cannot import bnnbo die at start and tasks would stay queued)."""
        from distributed import wait

        without_workers = 0.0
        while True:
            done = [f for f in self._futures if f.done()]
            if done:
                return done[0]
            try:
                wait(list(self._futures), timeout=POLL_SECONDS, return_when="FIRST_COMPLETED")
            except (TimeoutError, asyncio.TimeoutError):  # distinct types before Python 3.11
                workers = self.client.scheduler_info().get("workers", {})
                without_workers = 0.0 if workers else without_workers + POLL_SECONDS
                if without_workers >= NO_WORKER_TIMEOUT:
                    raise UnavailableError(
                        f"no Dask worker for {NO_WORKER_TIMEOUT:.0f} s ({self.describe()}); the workers' "
                        "log above says why (e.g. bnnbo not importable on them)"
                    ) from None

    def close(self) -> None:
        if self.client is not None:
            if self._futures:
                self.client.cancel(list(self._futures))
            self.client.close()
        if self.cluster is not None:
            self.cluster.close()
        self.client = self.cluster = None

    def describe(self) -> str:
        if self.scheduler:
            threads = self.threads or "the workers' own"
            return f"Dask scheduler {self.scheduler}, {threads} thread(s) per task"
        return f"Dask LocalCluster, {self.workers} worker(s), {self.threads} thread(s) each"


def _local_threads(workers: int) -> int:
    cores = available_cores()
    if workers < 1 or workers > cores:
        raise ConfigError(
            f"--workers {workers}: expected 1..{cores} (the cores of this machine); "
            "more workers than cores only slows every fit down"
        )
    return max(1, cores // workers)


def check_workers(workers: int | None) -> None:
    """``--workers 0`` (or less) is an error, not a silent in-process run."""
    if workers is not None and workers < 1:
        raise ConfigError(f"--workers {workers}: expected an integer >= 1 (leave out --workers to run in this process)")


def make_executor(workers: int | None = None, scheduler: str | None = None, threads: int | None = None):
    """In-process unless ``workers`` or ``scheduler`` is given."""
    check_workers(workers)
    if scheduler is not None and not scheduler.strip():
        raise ConfigError("--scheduler is empty; expected an address such as tcp://host:8786")
    threads = requested_threads(threads)
    if workers is not None and scheduler:
        raise ConfigError("give either --workers (a local Dask cluster) or --scheduler, not both")
    if workers is None and not scheduler:
        return InProcessExecutor(threads)
    if workers is not None and threads is not None and workers * threads > available_cores():
        raise ConfigError(
            f"--workers {workers} x {threads} thread(s) (--threads or ${THREADS_ENV}) exceeds "
            f"the {available_cores()} cores of this machine"
        )
    return DaskExecutor(workers=workers, scheduler=scheduler, threads=threads)
