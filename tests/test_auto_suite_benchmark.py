"""benchmarks/auto_suite.py: runs are stored with timings and auto's choices, resumed, and documented."""

import importlib.util
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def suite(monkeypatch):
    spec = importlib.util.spec_from_file_location("auto_suite_bench", ROOT / "benchmarks" / "auto_suite.py")
    mod = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "auto_suite_bench", mod)  # dataclasses look their module up
    spec.loader.exec_module(mod)
    monkeypatch.setitem(mod.PROBLEMS, "branin", mod.ProblemSpec("branin", {}, 5, 7))
    return mod


def test_runs_are_stored_once_resumed_and_documented(suite, tmp_path):
    store, doc = tmp_path / "auto_suite.jsonl", tmp_path / "auto.md"
    args = ["--problems", "branin", "--methods", "auto,gp", "--seeds", "0-1", "--store", str(store)]
    suite.main(["run", *args])
    rows = [json.loads(line) for line in store.read_text().splitlines()]
    assert len(rows) == 4 and all(r["status"] == "ok" for r in rows), rows
    for r in rows:
        assert len(r["trace"]) == 7 and r["trace"] == sorted(r["trace"])
        assert len(r["fit_seconds"]) == len(r["acq_seconds"]) == 2 and min(r["fit_seconds"]) > 0
    autos = [r for r in rows if r["method"] == "auto"]
    assert all(len(r["auto"]) == 2 and r["auto"][0]["choice"] in ("gp", "ibnn") for r in autos)
    assert set(autos[0]["auto"][0]["scores"]) == {"gp", "ibnn"}

    suite.main(["run", *args])  # everything is there: nothing is run again
    assert len(store.read_text().splitlines()) == 4

    suite.main(["doc", "--store", str(store), "--out", str(doc)])
    text = doc.read_text()
    assert "**Provisional: 2 seed(s)** on a synthetic problem" in text and "**Partial:**" in text
    assert "### branin" in text and "| auto |" in text and "| gp |" in text
    assert "## Target (issue 17)" in text and "**Outcome: target" in text and "provisional: 2 seeds" in text
    assert f"doc --store {store} --out {doc}" in text
    # the cost line compares auto with its candidates' fits inside the same calls (same data)
    assert "Like for like" in text and "- Fit s / iter (on the same data): auto " in text
    assert all(set(it["seconds"]) == {"gp", "ibnn"} for r in autos for it in r["auto"])


def test_bad_names_are_refused_before_running(suite, tmp_path):
    store = tmp_path / "s.jsonl"
    with pytest.raises(SystemExit, match="unknown method"):
        suite.main(["run", "--methods", "auto,nope", "--store", str(store)])
    with pytest.raises(SystemExit, match="--until"):
        suite.main(["run", "--until", "25:00", "--store", str(store)])
    assert not store.exists()


def test_ranks_share_ties(suite):
    mod = suite
    assert mod._ranks({"a": 1.0, "b": 1.0, "c": 0.5}, lower=True) == {"c": 1, "a": 2.5, "b": 2.5}
    assert mod._ranks({"a": 1.0, "b": 2.0}, lower=False) == {"b": 1, "a": 2}


def test_a_variant_runs_with_its_settings_and_stays_out_of_the_ranks(suite, tmp_path):
    store, doc = tmp_path / "auto_suite.jsonl", tmp_path / "auto.md"
    args = ["--problems", "branin", "--seeds", "0", "--store", str(store)]
    suite.main(["run", *args, "--methods", "auto,gp,ibnn,auto-recent"])
    rows = {r["method"]: r for r in map(json.loads, store.read_text().splitlines())}
    assert rows["auto-recent"]["status"] == "ok" and "auto" in rows["auto-recent"]
    assert {it["scored"] for it in rows["auto-recent"]["auto"]} == {True}
    suite.main(["doc", "--store", str(store), "--out", str(doc)])
    text = doc.read_text()
    ranks = text.split("## Mean rank across problems")[1].split("## Per problem")[0]
    assert "| auto |" in ranks and "auto-recent" not in ranks
    assert "## Other settings of auto" in text
    assert '- `auto-recent`: {"holdout": "recent", "metric": "lpd"}' in text
    assert "| branin | auto-recent | 0 |" in text


def test_until_is_the_next_such_time(suite):
    import time

    for hhmm in ("00:00", "12:00", "23:59"):
        when = suite.parse_until(hhmm)
        assert time.time() < when <= time.time() + 86400


def test_variants_document_compares_on_the_variants_own_seeds(suite, tmp_path):
    def row(method, seed, final, served=None):
        r = {"problem": "branin", "method": method, "seed": seed, "n_init": 5, "budget": 7, "status": "ok"}
        r.update(objectives=1, optimal_value=0.0, final=final, fit_seconds=[1.0], acq_seconds=[2.0])
        if served:
            r["auto"] = [{"served": s, "weights": {"gp": 0.6, "ibnn": 0.4}} for s in served]
        return r

    main = [row(m, s, v - s * 0.01) for s in range(4) for m, v in (("auto", -1.0), ("gp", -0.5), ("ibnn", -3.0))]
    mix = [row("auto-mix", s, -2.0 - s * 0.01, ["mix", "gp"]) for s in range(3)]  # seed 3 not run
    stores = [tmp_path / "a.jsonl", tmp_path / "b.jsonl"]
    for path, rows in zip(stores, (main, mix)):
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "mix.md"
    suite.main(
        ["variants", "--store", str(stores[0]), "--store", str(stores[1]), "--variants", "auto-mix", "--out", str(out)]
    )
    text = out.read_text()
    assert "Seeds 0-2 (3)." in text  # the variant's seeds only
    assert "| gp | 0.51 +- 0.00577 | 1 | 1 | 2 |" in text and "| auto-mix | 2.01 +- 0.00577 | 3 |" in text
    assert "Iterations served by the mixture: 3 of 6; mean heaviest weight 0.6." in text
    assert "| auto-mix | branin | 2 | 1 | 4 | 3 | none |" in text
    # a choosing variant reports its choices instead
    ev = [row("auto-evidence-10", s, -1.0, []) | {"auto": [{"choice": "gp"}, {"choice": "ibnn"}]} for s in range(2)]
    stores[1].write_text("".join(json.dumps(r) + "\n" for r in ev))
    suite.main(
        [
            "variants",
            "--store",
            str(stores[0]),
            "--store",
            str(stores[1]),
            "--variants",
            "auto-evidence-10",
            "--out",
            str(out),
        ]
    )
    text = out.read_text()
    assert "auto-evidence-10's choices over its iterations: gp 2, ibnn 2." in text and "mixture" not in text


def test_a_variant_with_its_own_candidates_is_compared_with_them(suite, tmp_path):
    """auto-means names its candidates (the GP under three means): its section ranks it against
    those methods run alone, not against auto's default candidates."""
    assert suite.variant_candidates("auto-means") == ["gp", "gp-zero", "gp-quadratic"]
    assert suite.variant_candidates("auto-mix") == ["gp", "ibnn"]

    def row(method, seed, final):
        r = {"problem": "branin", "method": method, "seed": seed, "n_init": 5, "budget": 7, "status": "ok"}
        return r | dict(objectives=1, optimal_value=0.0, final=final, fit_seconds=[1.0], acq_seconds=[2.0])

    finals = {"auto": -1.0, "gp": -0.5, "ibnn": -3.0, "gp-zero": -0.8, "gp-quadratic": -0.2, "auto-means": -0.1}
    finals["auto-mix"] = -2.0
    store = tmp_path / "a.jsonl"
    store.write_text("".join(json.dumps(row(m, s, v - s * 0.01)) + "\n" for s in range(3) for m, v in finals.items()))
    out = tmp_path / "means.md"
    suite.main(["variants", "--store", str(store), "--variants", "auto-means,auto-mix", "--out", str(out)])
    text = out.read_text()
    assert "mean rank gp-zero | mean rank gp-quadratic | mean rank variant" in text
    # regrets 0.1 (auto-means), 0.2, 0.5, 0.8, 1.0 (auto): the variant ranks first, gp-quadratic best candidate
    assert "| auto-means | branin | 5 | 3 | 4 | 2 | 1 | none |" in text
    assert "auto-means against the best candidate here (gp-quadratic)" in text
    assert "- `auto-means`: mean rank 1 against the best candidate's 2" in text
    # a variant with auto's candidates gets its own table: auto 2, gp 1, ibnn 4, auto-mix 3
    assert "| auto-mix | branin | 2 | 1 | 4 | 3 | none |" in text


def test_same_data_cost_averages_each_candidate_over_the_fits_that_refitted_it(suite):
    """With ``refresh`` > 1 a candidate's own fit time is missing from the fits that kept its last
    model: its cost per fit is the mean over the fits that ran it, not diluted by zeros."""
    its = [
        {"seconds": {"gp": 1.0, "ibnn": 4.0}, "scoring_seconds": 0.5},
        {"seconds": {"gp": 3.0}, "scoring_seconds": 0.1},
        {"seconds": {"gp": 2.0}, "scoring_seconds": 0.3},
    ]
    same = suite._same_data_cost([{"fit_seconds": [6.0, 3.0, 3.0], "auto": its}])
    assert same["candidates"] == {"gp": 2.0, "ibnn": 4.0} and same["sum"] == 6.0
    assert same["auto"] == 4.0 and same["runs"] == 1 and same["iterations"] == 3
    assert same["scoring_first"] == 0.5


def test_a_problem_with_few_seeds_is_named_beside_the_mean_rank_and_code_changes_are_flagged(suite, tmp_path):
    def row(problem, method, seed, final, commit):
        r = {"problem": problem, "method": method, "seed": seed, "n_init": 5, "budget": 7, "status": "ok"}
        r.update(objectives=1, optimal_value=0.0, final=final, fit_seconds=[1.0], acq_seconds=[2.0])
        return r | {"bnnbo_commit": commit}

    suite.PROBLEMS["hartmann6"] = suite.ProblemSpec("hartmann6", {}, 5, 7)
    # branin (3 seeds): auto best; hartmann6 (1 seed): gp best, so the mean ranks tie
    rows = [
        row("branin", m, s, v, "a" * 40) for s in range(3) for m, v in (("auto", -1.0), ("gp", -2.0), ("ibnn", -3.0))
    ]
    rows += [row("hartmann6", m, 0, v, "a" * 40) for m, v in (("auto", -2.0), ("gp", -1.0), ("ibnn", -3.0))]
    text = suite.render(rows, "cmd")
    assert "| auto | 1.50 | 2 |" in text and "| gp | 1.50 | 2 |" in text
    assert (
        "count as much as the others here: hartmann6 (1 seed(s)). Without them the mean ranks are auto 1.00, gp 2.00"
        in text
    )
    assert "Per method: auto: aaaaaaaaaaaa (4); gp: aaaaaaaaaaaa (4); ibnn: aaaaaaaaaaaa (4)." in text
    # a variant run at other code than the rows it is compared with is flagged
    variant = [row("branin", "auto-mix", s, -1.5, "b" * 40) for s in range(3)]
    flagged = suite.render_variants(rows + variant, ["auto-mix"], "cmd", ["s.jsonl"])
    assert "**The variants ran at other code than the rows they are compared with**" in flagged
    same = suite.render_variants(rows + [r | {"bnnbo_commit": "a" * 40} for r in variant], ["auto-mix"], "cmd", ["s"])
    assert "ran at other code" not in same
