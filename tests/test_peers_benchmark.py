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
    args = [
        "--problems",
        "branin",
        "--optimizers",
        "random,optuna-tpe,bnnbo-gp",
        "--seeds",
        "0-1",
        "--store",
        str(store),
    ]
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
    monkeypatch.setitem(
        peers.OPTIMISERS,
        "hebo",
        peers.OptimiserSpec(spec.run, "hebo", "no_such_module_for_test", False, True, why_not_mo=spec.why_not_mo),
    )
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


def test_drop_moves_one_optimisers_rows_aside_and_the_next_run_redoes_only_them(peers, tmp_path):
    store = tmp_path / "peers.jsonl"
    args = ["--problems", "branin", "--optimizers", "random,bnnbo-gp", "--seeds", "0", "--store", str(store)]
    peers.main(["run", *args])
    before = [json.loads(line) for line in store.read_text().splitlines()]
    assert all(r["bnnbo_commit"] for r in before)
    peers.main(["drop", "--optimizers", "bnnbo-gp", "--store", str(store)])
    kept = [json.loads(line) for line in store.read_text().splitlines()]
    moved = [json.loads(line) for line in (tmp_path / "peers-dropped.jsonl").read_text().splitlines()]
    assert [r["optimizer"] for r in kept] == ["random"] and [r["optimizer"] for r in moved] == ["bnnbo-gp"]
    assert moved[0] == next(r for r in before if r["optimizer"] == "bnnbo-gp")  # nothing lost
    peers.main(["run", *args])
    after = [json.loads(line) for line in store.read_text().splitlines()]
    assert [r["optimizer"] for r in after] == ["random", "bnnbo-gp"]
    with pytest.raises(SystemExit, match="unknown optimiser"):
        peers.main(["drop", "--optimizers", "bnnbo-nope", "--store", str(store)])


def test_drop_with_q_moves_only_that_batch_sizes_rows(peers, tmp_path):
    store = tmp_path / "peers.jsonl"
    rows = [{"problem": "branin", "optimizer": "bnnbo-gp", "seed": 0, "q": q, "status": "ok"} for q in (1, 4)]
    store.write_text("".join(json.dumps(r) + "\n" for r in rows))
    peers.main(["drop", "--optimizers", "bnnbo-gp", "--q", "1", "--store", str(store)])
    kept = [json.loads(line) for line in store.read_text().splitlines()]
    moved = [json.loads(line) for line in (tmp_path / "peers-dropped.jsonl").read_text().splitlines()]
    assert kept == [rows[1]] and moved == [rows[0]]


def test_bnnbo_rows_without_a_commit_are_flagged_stale_in_the_doc(peers, tmp_path):
    store, doc = tmp_path / "peers.jsonl", tmp_path / "peers.md"
    peers.main(
        [
            "run",
            "--problems",
            "branin",
            "--optimizers",
            "random,optuna-tpe,bnnbo-gp",
            "--seeds",
            "0-1",
            "--store",
            str(store),
        ]
    )
    peers.main(["doc", "--store", str(store), "--out", str(doc)])
    assert "stale" not in doc.read_text().split("## The target")[0]
    rows = [json.loads(line) for line in store.read_text().splitlines()]
    for r in rows:
        r.pop("bnnbo_commit")  # as the rows made before commits were recorded
    store.write_text("".join(json.dumps(r) + "\n" for r in rows))
    peers.main(["doc", "--store", str(store), "--out", str(doc)])
    text = doc.read_text()
    assert "| bnnbo-gp (stale) | 2 |" in text and "| optuna-tpe | 2 |" in text
    assert "**Provisional:** bnnbo's rows on branin are stale" in text


@pytest.mark.slow
@pytest.mark.parametrize("problem", ["branin", "hartmann6", "ackley10", "branincurrin", "pest", "oil", "poly200"])
def test_every_problem_runs_through_the_harness(peers, problem, monkeypatch):
    spec = peers.PROBLEMS[problem]
    monkeypatch.setitem(peers.PROBLEMS, problem, peers.ProblemSpec(spec.factory, spec.options, 3, 5))
    for name in ("bnnbo-gp", "random"):
        row = peers.run_one(problem, name, 0, 1)
        assert row["status"] == "ok", row.get("traceback")
        assert row["n_evals"] == 5 and len(row["overhead_per_iter"]) == 2


def _row(problem, optimizer, seed, final, overhead, started="2026-01-01T00:00:00Z"):
    trace = [final - 1.0, final]
    return {
        "problem": problem,
        "optimizer": optimizer,
        "seed": seed,
        "q": 1,
        "n_init": 1,
        "budget": 2,
        "started": started,
        "loadavg": 1.0,
        "python": "3",
        "torch": "2",
        "bnnbo_commit": "abc",
        "version": "v",
        "status": "ok",
        "settings": {},
        "n_evals": 2,
        "trace": trace,
        "final": final,
        "objectives": 1,
        "optimal_value": None,
        "max_hv": None,
        "overhead_median": overhead,
    }


def test_the_verdict_and_the_count_are_generated_from_the_rows(peers, tmp_path):
    store, doc = tmp_path / "peers.jsonl", tmp_path / "peers.md"
    rows = []
    for seed in range(3):
        rows.append(_row("pest", "bnnbo-gp", seed, -13.0 - 0.1 * seed, 2.0, "2026-01-01T00:10:00Z"))
        rows.append(_row("pest", "optuna-gp", seed, -12.0 - 0.01 * seed, 1.0))
        rows.append(_row("pest", "random", seed, -15.0, 0.0))
    store.write_text("".join(json.dumps(r) + "\n" for r in rows))
    peers.main(["doc", "--store", str(store), "--out", str(doc)])
    text = doc.read_text()
    assert "bnnbo's default (`gp`) **loses to** the best peer" in text
    assert "*Why, and what would fix it:* bnnbo's GP sees each categorical input" in text
    assert "ties or beats the best peer on 0 of 7 problems** (" not in text
    assert "ties or beats the best peer on 0 of 7 problems**; it loses on pest; not compared yet:" in text
    assert "2.00x Optuna GPSampler's (median of 3 per-seed ratio(s), runs of a seed interleaved)" in text
    assert "at most GPSampler's on 0 of 1 problems** (above it on pest)" in text
    assert "| pest | 3 / 3 | optuna-gp | **no** | bnnbo-gp (no) | 2.00x |" in text

    # the same runs with bnnbo's default ahead, and its rows made a day later: a tie, no cause
    # printed, and the overhead ratio flagged as not interleaved
    for r in rows:
        if r["optimizer"] == "bnnbo-gp":
            r["final"], r["trace"], r["started"] = -11.0, [-12.0, -11.0], "2026-01-02T00:00:00Z"
    store.write_text("".join(json.dumps(r) + "\n" for r in rows))
    peers.main(["doc", "--store", str(store), "--out", str(doc)])
    text = doc.read_text()
    assert "at least ties the best peer" in text and "Why, and what would fix it:*" not in text
    assert "ties or beats the best peer on 1 of 7 problems** (pest)" in text
    assert "| pest | 3 / 3 | optuna-gp | yes | bnnbo-gp (yes) | 2.00x (not interleaved) |" in text
