import os
import warnings

import pytest
import torch

# Tests share 2 cores with other processes; one intra-op thread keeps them predictable.
torch.set_num_threads(int(os.environ.get("BNNBO_TEST_THREADS", "1")))


@pytest.fixture(autouse=True)
def _quiet_numerics():
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*not p.d., added jitter.*")
        warnings.filterwarnings("ignore", message=".*qExpected.*numerical issues.*")
        yield
