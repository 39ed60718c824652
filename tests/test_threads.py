"""The thread policy: --threads, then $BNNBO_THREADS, then $OMP_NUM_THREADS, then one thread."""

import pytest
import torch

from bnnbo.cli import main
from bnnbo.errors import ConfigError
from bnnbo.executors import (
    DEFAULT_THREADS,
    DaskExecutor,
    InProcessExecutor,
    available_cores,
    default_threads,
    make_executor,
)


@pytest.fixture
def env(monkeypatch):
    monkeypatch.delenv("BNNBO_THREADS", raising=False)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    yield monkeypatch
    torch.set_num_threads(1)  # the suite's setting (conftest)


def test_precedence(env):
    assert DEFAULT_THREADS == 1 and default_threads() == 1
    env.setenv("OMP_NUM_THREADS", "3")
    assert default_threads() == 3 and InProcessExecutor().threads == 3
    env.setenv("BNNBO_THREADS", "2")
    assert default_threads() == 2 and InProcessExecutor().threads == 2
    assert InProcessExecutor(threads=1).threads == 1 and torch.get_num_threads() == 1
    assert make_executor(threads=4).threads == 4


def test_dask_workers_get_the_policy_within_their_share(env):
    workers = min(2, available_cores())
    assert DaskExecutor(workers=workers).threads == 1
    env.setenv("BNNBO_THREADS", str(available_cores() + 1))
    with pytest.raises(ConfigError, match=r"exceeds the \d+ cores"):
        make_executor(workers=workers)


@pytest.mark.parametrize("value", ["0", "two", "-1", "1.5"])
def test_bad_values_are_refused_before_any_work(env, value, tmp_path, capsys):
    env.setenv("BNNBO_THREADS", value)
    with pytest.raises(ConfigError, match=rf"\$BNNBO_THREADS = '{value}'; expected an integer >= 1"):
        make_executor()
    assert main(["optimize", "--problem", "branin", "--budget", "3"]) == 2
    assert "$BNNBO_THREADS" in capsys.readouterr().err
    env.delenv("BNNBO_THREADS")
    assert main(["optimize", "--problem", "branin", "--budget", "3", "--threads", "0"]) == 2
    assert "--threads 0: expected an integer >= 1" in capsys.readouterr().err


def test_optimize_applies_threads(env, capsys):
    assert main(["optimize", "--problem", "branin", "--budget", "3", "--threads", "2"]) == 0
    assert torch.get_num_threads() == 2
    assert main(["optimize", "--problem", "branin", "--budget", "3"]) == 0
    assert torch.get_num_threads() == 1
