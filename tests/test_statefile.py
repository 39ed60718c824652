"""Surrogate state in the store is tensors and plain data: nothing read back can run code, an older
store's pickled states still resume exactly, and a state that would run code is refused while
the run itself resumes with every evaluation once."""

import io
import logging
import os
import pickle
import sqlite3

import numpy as np
import pytest
import torch
from test_runner import points, run, study_text

from bnnbo.statefile import StateError, decode, encode, from_store
from bnnbo.testing.conformance import _assert_same_tree

HMC = (
    "[surrogates.hmc]\nsettings = { widths = [8], pretrain_steps = 50, pretrain_lr = 0.01, "
    "n_chains = 2, n_burn_in = 20, n_samples = 20, warm_burn_in = 10 }\n"
)


class RunsCode:
    """Unpickling this would create ``path``: the stand-in for any code an attacker would run."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (os.system, (f"touch {self.path}",))


def test_states_round_trip_with_their_types():
    state = {
        "kind": "hmc",
        "spec": (2, (8, 8), 1, "tanh"),
        "position": torch.randn(2, 5, dtype=torch.float64),
        "step_size": 0.013,
        "inv_mass": None,
        "n": 3,
        "ok": True,
        "scores": {"gp": -1.5, "ibnn": None},
        "members": [{"theta": torch.arange(4.0)}, None],
        "nan": float("nan"),
    }
    _assert_same_tree(decode(encode(state)), state, "state")
    assert decode(encode(None)) is None and encode(None) is None
    # numpy scalars and tensor subclasses become the plain types, so the safe loader reads them
    back = decode(encode({"f": np.float64(0.5), "i": np.int64(3), "p": torch.nn.Parameter(torch.ones(2))}))
    assert type(back["f"]) is float and type(back["i"]) is int and type(back["p"]) is torch.Tensor


@pytest.mark.parametrize(
    "state, where",
    [
        ({"a": [1, object()]}, "state['a'][1]: expected tensors"),
        ({"a": np.zeros(3)}, "state['a']: expected tensors, None, bool, int, float, str"),
        ({1: torch.ones(1)}, "dict keys must be strings, got 1"),
        ({"s": torch.ones(2).to_sparse()}, "expected a dense tensor"),
    ],
)
def test_other_objects_are_refused_naming_where(state, where):
    with pytest.raises(StateError, match=__import__("re").escape(where)):
        encode(state)


def test_code_in_a_state_is_refused_and_does_not_run(tmp_path, caplog):
    marker = tmp_path / "ran"
    buf = io.BytesIO()
    torch.save({"format": "bnnbo-state", "version": 1, "state": RunsCode(marker)}, buf)
    blobs = {
        "pickle": pickle.dumps({"position": RunsCode(marker)}, protocol=4),
        "torch.save": buf.getvalue(),
        "garbage": b"PK\x03\x04 not a zip",
        "truncated": encode({"a": torch.ones(3)})[:100],
    }
    for kind, blob in blobs.items():
        with caplog.at_level(logging.WARNING, logger="bnnbo"):
            assert from_store(blob, f"run {kind}") is None
        assert f"run {kind}: stored surrogate state refused" in caplog.text
        with pytest.raises(StateError):
            decode(blob)
    assert "posix.system" in caplog.text or "os.system" in caplog.text
    assert not marker.exists(), "unpickling ran code"


def _state_blob(db):
    with sqlite3.connect(db) as conn:
        return conn.execute("select blob from run_states").fetchone()[0]


def _set_state_blob(db, blob):
    with sqlite3.connect(db) as conn:
        conn.execute("update run_states set blob = ?", (blob,))


def _last_diagnostics(db):
    from bnnbo import load_results

    return load_results(db).diagnostics.iloc[-1]


def test_an_older_stores_pickled_state_resumes_exactly(tmp_path):
    """A state pickled as bnnbo wrote it before the safe format is converted (tensors only) and
    the continued run equals an uninterrupted one, warm start included."""
    assert run(study_text(HMC, seeds=1, iterations=3), tmp_path / "u.db").ok
    db = tmp_path / "old.db"
    assert run(study_text(HMC, seeds=1, iterations=2), db).ok
    _set_state_blob(db, pickle.dumps(decode(_state_blob(db)), protocol=4))
    assert run(study_text(HMC, seeds=1, iterations=3), db).ok
    assert _last_diagnostics(db)["warm_start"] is True
    assert points(db) == points(tmp_path / "u.db")
    assert _state_blob(db)[:2] == b"PK", "the converted run stores today's format"


def test_a_stored_state_that_would_run_code_is_refused_and_the_run_resumes(tmp_path, caplog):
    marker = tmp_path / "ran"
    db = tmp_path / "evil.db"
    assert run(study_text(HMC, seeds=1, iterations=2), db).ok
    _set_state_blob(db, pickle.dumps({"kind": "hmc", "position": RunsCode(marker)}, protocol=4))
    with caplog.at_level(logging.WARNING, logger="bnnbo"):
        assert run(study_text(HMC, seeds=1, iterations=3), db).ok
    assert not marker.exists(), "the store's pickle ran code"
    assert "stored surrogate state refused" in caplog.text and "posix.system" in caplog.text
    assert _last_diagnostics(db)["warm_start"] is False  # only the warm start is lost
    with sqlite3.connect(db) as conn:
        assert conn.execute('select count(*), count(distinct "index"), max("index") from evaluations').fetchone() == (
            7,
            7,
            6,
        )


def test_older_pickled_states_convert_to_the_same_tree():
    state = {
        "spec": (6, (8, 8), 1, "tanh"),
        "position": torch.randn(2, 5, dtype=torch.float64),
        "inv_mass": torch.rand(3).t(),
        "steps": torch.arange(4)[::2],
        "laplace": {"theta": torch.ones(1, 7)},
        "scores": {"gp": -1.0, "ibnn": None},
        "fits": 3,
    }
    back = decode(from_store(pickle.dumps(state, protocol=4), "run 1"))
    _assert_same_tree(back, state, "state")
    grad = decode(from_store(pickle.dumps({"t": torch.ones(2).requires_grad_()}, protocol=4), "run 2"))["t"]
    assert torch.equal(grad, torch.ones(2)) and not grad.requires_grad
