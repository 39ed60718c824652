"""The study's ``lunar`` problem: tune a 12-parameter heuristic Lunar Lander controller.

Gymnasium's ``LunarLander`` (Box2D, discrete actions) is flown by the classic heuristic
controller with its 12 constants exposed (TuRBO, Eriksson et al. 2019). The value of a
parameter vector is the mean episode reward over 50 fixed environment seeds (0..49), each
episode stopped when it terminates or after 5000 steps (the study's loop let a 5001st step
through; only hovering episodes reach the cap); it is maximised.

The environment is used without gymnasium's 1000-step ``TimeLimit`` wrapper, like the study
(which vendored gym 0.26's LunarLander-v2; its dynamics match gymnasium's LunarLander-v3
without wind). Episodes run in parallel worker processes (a pool kept for the life of the
problem); every episode is a pure function of (parameters, seed), so the value does not
depend on the number of workers or on scheduling.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import sys
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import torch
from torch import Tensor

from bnnbo import paper
from bnnbo.errors import ConfigError
from bnnbo.problems.availability import require
from bnnbo.problems.base import Problem, ProblemInfo, with_info
from bnnbo.space import DTYPE, SearchSpace

N_PARAMS = 12
N_SEEDS = 50
MAX_STEPS = 5000
#: The controller constants of gymnasium's own ``heuristic`` (a known-good point).
HEURISTIC = (0.5, 1.0, 0.4, 0.55, 0.5, 1.0, 0.5, 0.5, 0.0, 0.5, 0.05, 0.05)


def controller(s: np.ndarray, w: np.ndarray) -> int:
    """Action (0 noop, 1 left, 2 main, 3 right) for state ``s`` under constants ``w``."""
    angle_targ = min(max(s[0] * w[0] + s[2] * w[1], -w[2]), w[2])  # lean towards the pad
    hover_targ = w[3] * abs(s[0])  # lower when closer
    angle_todo = (angle_targ - s[4]) * w[4] - s[5] * w[5]
    hover_todo = (hover_targ - s[1]) * w[6] - s[3] * w[7]
    if s[6] or s[7]:  # a leg touches the ground: only brake the fall
        angle_todo = w[8]
        hover_todo = -s[3] * w[9]
    if hover_todo > abs(angle_todo) and hover_todo > w[10]:
        return 2
    if angle_todo < -w[11]:
        return 3
    if angle_todo > w[11]:
        return 1
    return 0


def episode_reward(w: np.ndarray, seed: int, max_steps: int = MAX_STEPS) -> float:
    """Total reward of one episode with environment seed ``seed``."""
    from gymnasium.envs.box2d.lunar_lander import LunarLander

    env = LunarLander()
    try:
        s, _ = env.reset(seed=int(seed))
        total = 0.0
        for _ in range(max_steps):
            s, r, terminated, truncated, _ = env.step(controller(s, w))
            total += float(r)
            if terminated or truncated:
                break
        return total
    finally:
        env.close()


def _episode_task(args: tuple) -> float:
    return episode_reward(*args)


def _start_method() -> str:
    # fork reuses the loaded modules (no torch re-import per worker); elsewhere spawn is safe
    return "fork" if sys.platform.startswith("linux") else "spawn"


class LunarLanderProblem(Problem):
    """Maximise the mean reward over 50 seeded episodes; 12 controller constants in [0, 2]."""

    name = "lunar"
    num_objectives = 1
    negated = False
    paper_budget = paper.budget("lunar")

    def __init__(self, workers: int | None = None, n_seeds: int = N_SEEDS, max_steps: int = MAX_STEPS):
        _check(workers, n_seeds, max_steps)
        super().__init__(SearchSpace.box(torch.tensor([[0.0] * N_PARAMS, [2.0] * N_PARAMS]), prefix="w"))
        self.workers = workers or os.cpu_count() or 1
        self.n_seeds, self.max_steps = n_seeds, max_steps
        self._pool: ProcessPoolExecutor | None = None

    def _map(self, tasks: list[tuple]) -> list[float]:
        # daemonic processes (e.g. Dask workers) may not start children: run serially there
        if self.workers == 1 or mp.current_process().daemon:
            return [_episode_task(t) for t in tasks]
        if self._pool is None:
            ctx = mp.get_context(_start_method())
            self._pool = ProcessPoolExecutor(self.workers, mp_context=ctx)
        chunk = max(1, len(tasks) // (4 * self.workers))
        return list(self._pool.map(_episode_task, tasks, chunksize=chunk))

    def _evaluate(self, X: Tensor) -> Tensor:
        W = X.numpy()
        tasks = [(w, seed, self.max_steps) for w in W for seed in range(self.n_seeds)]
        rewards = np.asarray(self._map(tasks)).reshape(len(W), self.n_seeds)
        return torch.as_tensor(rewards.mean(axis=1), dtype=DTYPE)

    def close(self) -> None:
        """Stop the worker processes (they also stop when the problem is garbage-collected)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def __del__(self) -> None:
        pool = getattr(self, "_pool", None)
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_pool"] = None  # a pool cannot be pickled (e.g. to a Dask worker)
        return state


def _check(workers: object, n_seeds: object, max_steps: object) -> None:
    require("gymnasium.envs.box2d.lunar_lander", "lunar", package="gymnasium[box2d]")
    for key, value in (("n_seeds", n_seeds), ("max_steps", max_steps)):
        if not isinstance(value, int) or value < 1:
            raise ConfigError(f"lunar: {key} must be a positive integer, got {value!r}")
    if workers is not None and (not isinstance(workers, int) or workers < 1):
        raise ConfigError(f"lunar: workers must be a positive integer or None, got {workers!r}")


def lunar_info(workers: int | None = None, n_seeds: int = N_SEEDS, max_steps: int = MAX_STEPS) -> ProblemInfo:
    """The problem's metadata: its options checked, no process pool or episode started."""
    _check(workers, n_seeds, max_steps)
    cls = LunarLanderProblem
    return ProblemInfo(
        name=cls.name, dim=N_PARAMS, num_objectives=1, negated=cls.negated, paper_budget=cls.paper_budget
    )


@with_info(lunar_info)
def lunar(workers: int | None = None, n_seeds: int = N_SEEDS, max_steps: int = MAX_STEPS) -> Problem:
    return LunarLanderProblem(workers=workers, n_seeds=n_seeds, max_steps=max_steps)
