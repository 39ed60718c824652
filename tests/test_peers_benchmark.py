"""benchmarks/peers.py: a run is stored, resumed without repeats, and the doc is built from the store."""

import importlib.util
import json
import sys
import types
from pathlib import Path

import pytest

pytest.importorskip("optuna", minversion="5")

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def peers(monkeypatch, tmp_path):
    spec = importlib.util.spec_from_file_location("peers_bench", ROOT / "benchmarks" / "peers.py")
    mod = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "peers_bench", mod)  # dataclasses look their module up
    spec.loader.exec_module(mod)
    monkeypatch.setitem(mod.PROBLEMS, "branin", mod.ProblemSpec("branin", {}, 3, 4))
    monkeypatch.setattr(mod, "FIGURES", tmp_path / "figures")
    return mod


def test_runs_are_stored_once_resumed_and_documented(peers, tmp_path):
    store, doc = tmp_path / "peers.jsonl", tmp_path / "peers.md"
    args = ["--problems", "branin", "--optimizers", "random,optuna-tpe,bnnbo-gp", "--seeds", "0-1",
            "--store", str(store)]
    peers.main(["run", *args])
    rows = [json.loads(line) for line in store.read_text().splitlines()]
    assert len(rows) == 6 and all(r["status"] == "ok" for r in rows)
    for r in rows:
        assert r["n_evals"] == 4 and len(r["trace"]) == 4 and len(r["overhead_per_iter"]) == 1
        assert r["trace"] == sorted(r["trace"])  # best so far never gets worse
    same_seed = {r["optimizer"]: r for r in rows if r["seed"] == 0}
    assert same_seed["random"]["trace"] != same_seed["bnnbo-gp"]["trace"]

    peers.main(["run", *args])  # everything is there: nothing is run again
    assert len(store.read_text().splitlines()) == 6

    peers.main(["doc", "--store", str(store), "--out", str(doc)])
    text = doc.read_text()
    assert "## branin (q = 1)" in text and "| bnnbo-gp | 2 |" in text and "| optuna-tpe | 2 |" in text
    assert (tmp_path / "figures" / "peers-branin-q1.png").stat().st_size > 1000
    assert "**Partial:**" in text  # the other problems were not run


def test_a_missing_or_unsupported_peer_is_recorded_with_its_reason(peers, tmp_path, monkeypatch):
    spec = peers.OPTIMISERS["hebo"]
    monkeypatch.setitem(peers.OPTIMISERS, "hebo", peers.OptimiserSpec(
        spec.run, "hebo", "no_such_module_for_test", False, True, why_not_mo=spec.why_not_mo))
    row = peers.run_one("branin", "hebo", 0, 1)
    assert row["status"] == "skipped" and row["reason"].startswith("not installed: ModuleNotFoundError")
    row = peers.run_one("branin", "smac", 0, 4)
    assert row["status"] == "skipped" and "no joint batch" in row["reason"]


def test_ax_is_told_the_problems_own_values_under_a_matching_objective(peers, monkeypatch):
    # a stand-in for ax.Client that records what the benchmark tells it (the real one is slow)
    told, config = [], {}

    class Client:
        def __init__(self, random_seed=None):
            self.n = 0

        def configure_experiment(self, parameters):
            config["names"] = [p.name for p in parameters]

        def configure_optimization(self, objective):
            config["objective"] = objective

        def configure_generation_strategy(self, initialization_budget):
            config["init"] = initialization_budget

        def get_next_trials(self, max_trials):
            self.n += 1
            return {self.n: {"x0": 1.0, "x1": 2.0}}

        def complete_trial(self, index, raw_data):
            told.append(raw_data)

    fake = types.ModuleType("ax")
    fake.Client, fake.RangeParameterConfig, fake.ChoiceParameterConfig = Client, ParamConfig, ParamConfig
    monkeypatch.setitem(sys.modules, "ax", fake)
    problem = peers.PROBLEMS["branin"].build()
    rec = peers.Recorder(problem, 4)
    peers.run_ax(problem, peers.PROBLEMS["branin"], 0, 1, rec)
    # Branin is minimised in its source: Ax minimises f0 and gets the positive Branin value
    assert config == {"names": ["x0", "x1"], "objective": "-f0", "init": 3}
    assert [t["f0"] for t in told] == [-y[0] for y in rec.Y] and all(t["f0"] > 0 for t in told)


class ParamConfig:
    def __init__(self, name, **kwargs):
        self.name = name
