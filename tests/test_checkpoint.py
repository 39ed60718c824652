"""Optimizer.save / Optimizer.load: an ask/tell loop stopped and continued later proposes exactly
what an uninterrupted one does; bad checkpoint files get one clear error and run nothing."""

import io
import os
import pickle

import pytest
import torch

from bnnbo import ConfigError, Optimizer
from bnnbo.problems import get_problem
from bnnbo.space import Categorical, Float, Integer, SearchSpace
from bnnbo.statefile import StateError

HMC = {
    "widths": [8],
    "pretrain_steps": 50,
    "pretrain_lr": 1e-2,
    "n_chains": 2,
    "n_burn_in": 20,
    "n_samples": 20,
    "warm_burn_in": 10,
}


def _tell_batches(opt, problem, n):
    for _ in range(n):
        X = opt.ask(opt.n_init if opt.n_told < opt.n_init else None)
        opt.tell(X, problem.evaluate(X))


@pytest.mark.parametrize("surrogate, settings", [("gp", {}), ("hmc", HMC)])
def test_next_ask_after_load_equals_the_uninterrupted_one(tmp_path, surrogate, settings):
    problem = get_problem("branin")
    opt = Optimizer(
        problem.space, surrogate=surrogate, seed=7, n_init=4, acquisition="paper", surrogate_settings=settings
    )
    _tell_batches(opt, problem, 2)  # the initial design, then one model-based batch
    path = opt.save(tmp_path / "opt.ckpt")
    loaded = Optimizer.load(path)
    assert torch.equal(loaded.X, opt.X) and torch.equal(loaded.Y, opt.Y)
    if surrogate == "hmc":  # the warm start travels with the checkpoint
        assert torch.equal(loaded.surrogate_state["position"], opt.surrogate_state["position"])
    X = opt.ask()
    assert torch.equal(loaded.ask(), X)
    # asked but not told when saved: the loaded optimizer still knows the batch it proposed
    opt.save(path)
    again = Optimizer.load(path)
    Y = problem.evaluate(X)
    for o in (opt, loaded, again):
        o.tell(X, Y)
    nxt = opt.ask()
    assert torch.equal(loaded.ask(), nxt) and torch.equal(again.ask(), nxt)
    last = [(e.initial, e.batch) for e in opt.history]
    assert [(e.initial, e.batch) for e in again.history] == last


def test_settings_space_and_convention_survive(tmp_path):
    space = SearchSpace(
        [Float("lr", 1e-4, 1.0, log=True), Integer("layers", 1, 4), Categorical("act", ("relu", "tanh"))]
    )
    opt = Optimizer(
        space,
        num_objectives=2,
        surrogate="gp",
        seed=3,
        q=2,
        n_init=5,
        maximize=[False, True],
        ref_point=[1.0, -2.0],
        acq_optimizer="thorough",
        surrogate_settings={"priors": "paper"},
    )
    loaded = Optimizer.load(opt.save(tmp_path / "o.ckpt"))
    assert loaded.space == space and loaded.q == 2 and loaded.n_init == 5 and loaded.seed == 3
    assert loaded.num_objectives == 2 and loaded.preset == opt.preset and loaded.mode == opt.mode
    assert loaded.surrogate.settings == opt.surrogate.settings
    assert torch.equal(loaded.to_max(torch.ones(1, 2)), opt.to_max(torch.ones(1, 2)))
    assert torch.equal(loaded._ref_max, opt._ref_max)
    assert torch.equal(loaded.ask(), opt.ask())


class RunsCode:
    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (os.system, (f"touch {self.path}",))


def test_bad_checkpoint_files_get_one_clear_error(tmp_path):
    marker = tmp_path / "ran"
    with pytest.raises(ConfigError, match="no optimizer checkpoint at"):
        Optimizer.load(tmp_path / "missing.ckpt")
    with pytest.raises(ConfigError, match="is a folder"):
        Optimizer.load(tmp_path)
    cases = {"garbage.ckpt": b"not a checkpoint", "pickle.ckpt": pickle.dumps(RunsCode(marker))}
    buf = io.BytesIO()
    torch.save({"format": "bnnbo-optimizer", "version": 1, "settings": RunsCode(marker)}, buf)
    cases["code.ckpt"] = buf.getvalue()
    buf = io.BytesIO()
    torch.save({"weights": torch.ones(2)}, buf)
    cases["foreign.ckpt"] = buf.getvalue()
    good = Optimizer(torch.tensor([[0.0], [1.0]]), seed=1).save(tmp_path / "good.ckpt").read_bytes()
    cases["truncated.ckpt"] = good[: len(good) // 2]
    buf = io.BytesIO()
    torch.save({"format": "bnnbo-optimizer", "version": 1, "settings": {}}, buf)
    cases["incomplete.ckpt"] = buf.getvalue()
    expected = {
        "garbage.ckpt": "not a bnnbo-optimizer file",
        "pickle.ckpt": "not a bnnbo-optimizer file",
        "code.ckpt": "unsupported GLOBAL posix.system",
        "foreign.ckpt": "its format tag is None",
        "truncated.ckpt": "not a bnnbo-optimizer file",
        "incomplete.ckpt": "incomplete or malformed",
    }
    for name, blob in cases.items():
        (tmp_path / name).write_bytes(blob)
        with pytest.raises(StateError, match=expected[name]) as info:
            Optimizer.load(tmp_path / name)
        assert name in str(info.value)
    assert not marker.exists(), "loading a checkpoint ran code"


def test_a_surrogate_outside_the_registry_is_passed_to_load(tmp_path):
    from bnnbo import UnknownNameError
    from bnnbo.surrogates.gaussian.gp import GPSurrogate

    class MyGP(GPSurrogate):
        name = "my-gp"

    opt = Optimizer(torch.tensor([[0.0], [1.0]]), surrogate=MyGP(), seed=1)
    path = opt.save(tmp_path / "o.ckpt")
    with pytest.raises(UnknownNameError, match="unknown surrogate 'my-gp'.*surrogate=YourSurrogate"):
        Optimizer.load(path)
    assert isinstance(Optimizer.load(path, surrogate=MyGP()).surrogate, MyGP)


def test_save_is_atomic_and_checks_the_path_first(tmp_path, monkeypatch):
    opt = Optimizer(torch.tensor([[0.0], [1.0]]), seed=1)
    path = opt.save(tmp_path / "o.ckpt")
    before = path.read_bytes()
    opt.tell(opt.ask(), torch.tensor([[1.0]]))

    def fail(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(ConfigError, match="cannot write checkpoint .*No space left"):
        opt.save(path)
    monkeypatch.undo()
    assert path.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["o.ckpt"]
    assert Optimizer.load(path).n_told == 0
    with pytest.raises(ConfigError, match="does not exist"):
        opt.save(tmp_path / "missing" / "o.ckpt")
    with pytest.raises(ConfigError, match="is a folder"):
        opt.save(tmp_path)
