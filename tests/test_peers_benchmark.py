"""benchmarks/peers.py: a run is stored, resumed without repeats, and the doc is built from the store."""

import importlib.util
import json
import sys
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
