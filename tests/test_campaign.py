"""The campaign driver: entries with overrides, cheapest first, resumable, exported with a manifest
that records what was run and what was not; bad campaign files refused with every problem."""

import json

import pytest

from bnnbo.campaign import load_campaign, main
from bnnbo.errors import ConfigError
from bnnbo.exports import load_exports
from bnnbo.study import load_study


def study(path, name, iterations, surrogates=("gp",)):
    path.write_text(
        f'name = "{name}"\nseeds = 2\nacquisition = "paper"\n'
        f"[problems.branin]\nn_init = 3\nq = 1\niterations = {iterations}\n"
        + "".join(f"[surrogates.{s}]\n" for s in surrogates)
    )
    return path


@pytest.fixture
def campaign(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    study(tmp_path / "long.toml", "paper-long", 3, ("gp", "ibnn"))
    study(tmp_path / "short.toml", "paper-short", 1)
    study(tmp_path / "never.toml", "paper-never", 1)
    (tmp_path / "c.toml").write_text(
        'results = "res"\n'
        '[[study]]\nfile = "long.toml"\nsurrogates = ["gp"]\niterations = 2\n'
        'reason = "shortened for the test"\n'
        '[[study]]\nfile = "short.toml"\n'
        '[[study]]\nfile = "never.toml"\nskip = true\nreason = "too expensive"\n'
    )
    return tmp_path


def test_run_exports_every_study_with_a_manifest_and_resumes(campaign, capsys):
    assert main(["run", "c.toml", "--db", "c.db"]) == 0
    out = capsys.readouterr().out
    assert out.index("paper-short:") < out.index("paper-long:")  # cheaper first
    manifest = {e["study"]: e for e in json.loads((campaign / "res" / "manifest.json").read_text())["configurations"]}
    long, short, never = manifest["paper-long"], manifest["paper-short"], manifest["paper-never"]
    assert (short["status"], short["runs"], short["budget"], short["paper_budget"]) == (
        "complete",
        {"finished": 2},
        4,
        4,
    )
    assert (long["status"], long["seeds"], long["surrogates"], long["budget"], long["paper_budget"]) == (
        "partial",
        [0, 1],
        ["gp"],
        5,
        6,
    )
    assert long["reason"] == "shortened for the test" and long["study_surrogates"] == ["gp", "ibnn"]
    assert (never["status"], never["reason"]) == ("not run", "too expensive")
    studies, _, evals = load_exports(campaign / "res")
    assert sorted(s["name"] for s in studies) == ["paper-long", "paper-short"]
    assert len(evals) == 2 * 4 + 2 * 5
    # a second run finds nothing left to do and stores nothing new
    assert main(["plan", "c.toml", "--db", "c.db"]) == 0
    assert main(["run", "c.toml", "--db", "c.db"]) == 0
    assert len(load_exports(campaign / "res")[2]) == len(evals)


def test_the_manifest_records_the_code_each_study_ran_with(campaign, capsys, monkeypatch):
    import bnnbo.version

    def manifest():
        return {e["study"]: e for e in json.loads((campaign / "res" / "manifest.json").read_text())["configurations"]}

    monkeypatch.setattr(bnnbo.version, "code_commit", lambda *extra: "aaa")
    assert main(["run", "c.toml", "--db", "c.db", "--only", "paper-short", "paper-never"]) == 0
    assert manifest()["paper-short"]["code"] == ["aaa"] and manifest()["paper-never"]["code"] == []
    monkeypatch.setattr(bnnbo.version, "code_commit", lambda *extra: "bbb")
    assert main(["run", "c.toml", "--db", "c.db", "--only", "paper-short"]) == 0  # nothing left: nothing ran
    assert manifest()["paper-short"]["code"] == ["aaa"]
    study(campaign / "short.toml", "paper-short", 2)  # a longer budget resumes the runs with other code
    assert main(["run", "c.toml", "--db", "c.db", "--only", "paper-short"]) == 0
    assert manifest()["paper-short"]["code"] == ["aaa", "bbb"]
    assert main(["export", "c.toml", "--db", "c.db"]) == 0  # exporting keeps the record
    assert manifest()["paper-short"]["code"] == ["aaa", "bbb"]
    # the store holds it: an export by other code, with no manifest before it, says the same
    monkeypatch.setattr(bnnbo.version, "code_commit", lambda *extra: "ccc")
    (campaign / "res" / "manifest.json").unlink()
    assert main(["export", "c.toml", "--db", "c.db"]) == 0
    assert manifest()["paper-short"]["code"] == ["aaa", "bbb"] and manifest()["paper-never"]["code"] == []


def test_export_says_what_each_unfinished_study_has_left(campaign, capsys):
    assert main(["run", "c.toml", "--db", "c.db", "--only", "paper-short"]) == 0
    assert main(["export", "c.toml", "--db", "c.db", "--workers", "2"]) == 0
    manifest = {e["study"]: e for e in json.loads((campaign / "res" / "manifest.json").read_text())["configurations"]}
    long = manifest["paper-long"]["reason"]
    assert long.startswith("shortened for the test; not finished: 10 evaluations left, estimated ") and (
        "with 2 worker(s) on this machine" in long
    )
    assert manifest["paper-short"]["reason"] == "" and manifest["paper-never"]["reason"] == "too expensive"


def test_max_hours_leaves_long_studies_for_later(campaign, capsys):
    assert main(["run", "c.toml", "--db", "c.db", "--max-hours", "0", "--only", "paper-short"]) == 0
    manifest = json.loads((campaign / "res" / "manifest.json").read_text())["configurations"]
    assert manifest[0]["status"] == "not run" and "not run yet: estimated" in manifest[0]["reason"]


def test_bad_campaign_files_list_every_problem(campaign, capsys):
    (campaign / "bad.toml").write_text(
        'colour = 1\n[[study]]\nfile = "long.toml"\nseeds = 0\n[[study]]\nfile = "missing.toml"\n'
        '[[study]]\nfile = "short.toml"\nsurrogates = ["hmc"]\n[[study]]\nfile = "short.toml"\nbogus = 1\n'
    )
    with pytest.raises(ConfigError) as exc:
        load_campaign(campaign / "bad.toml")
    text = str(exc.value)
    for part in (
        "unknown key(s) ['colour']",
        "seeds = 0",
        "cannot read study file 'missing.toml'",
        "surrogates = ['hmc']; expected labels of 'paper-short': gp",
        "unknown key(s) ['bogus']",
    ):
        assert part in text
    assert main(["run", "bad.toml", "--db", "c.db"]) == 2
    assert main(["export", "c.toml", "--db", "none.db"]) == 2
    assert "no bnnbo store" in capsys.readouterr().out
    assert main(["plan", "c.toml", "--db", "c.db", "--only", "nope"]) == 2


def test_the_shipped_campaign_lists_every_configuration_with_its_modern_twin():
    entries, results = load_campaign("configs/campaign/campaign.toml")
    names = {e.study.name for e in entries}
    paper = {load_study(f).name for f in __import__("glob").glob("configs/paper/*.toml")}
    assert paper <= names and {n.replace("paper-", "modern-") for n in paper} <= names
    assert str(results) == "results/paper"


def test_sigterm_stops_the_campaign_as_cleanly_as_ctrl_c(campaign, monkeypatch, capsys):
    """A campaign started in the background (``nohup ... &``) ignores SIGINT; ``kill PID`` (SIGTERM)
    must interrupt it the same way: exit 130, every finished step kept, the next run resumes."""
    import os
    import signal

    import bnnbo.runner

    real = bnnbo.runner.run_study

    def terminated(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGTERM)  # delivered at once: the handler raises KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(bnnbo.runner, "run_study", terminated)
    before = signal.getsignal(signal.SIGTERM)
    assert main(["run", "c.toml", "--db", "c.db", "--only", "paper-short"]) == 130
    assert "interrupted" in capsys.readouterr().out
    assert signal.getsignal(signal.SIGTERM) is before  # the handler is the caller's again
    monkeypatch.setattr(bnnbo.runner, "run_study", real)
    assert main(["run", "c.toml", "--db", "c.db", "--only", "paper-short"]) == 0


def test_changed_settings_in_any_study_are_refused_before_the_campaign_runs(campaign, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "400")  # the plan's notes on one line
    assert main(["run", "c.toml", "--db", "c.db"]) == 0
    evals = len(load_exports(campaign / "res")[2])
    study(campaign / "short.toml", "paper-short", 2)  # more work for the cheaper study
    (campaign / "long.toml").write_text(
        (campaign / "long.toml")
        .read_text()
        .replace("[surrogates.gp]\n", "[surrogates.gp]\nsettings = { warm_maxiter = 3 }\n")
    )
    capsys.readouterr()
    assert main(["plan", "c.toml", "--db", "c.db"]) == 0
    assert "2 stored run(s) with other settings or problem data, counted from zero" in capsys.readouterr().out
    assert main(["run", "c.toml", "--db", "c.db"]) == 2
    out = capsys.readouterr().out
    assert "study 'paper-long': 2 run(s) in the store were made with other settings" in out and "--force-new" in out
    assert len(load_exports(campaign / "res")[2]) == evals  # paper-short did not run first
    assert main(["run", "c.toml", "--db", "c.db", "--only", "paper-long", "--force-new"]) == 0
    assert main(["run", "c.toml", "--db", "c.db"]) == 0
    manifest = {e["study"]: e for e in json.loads((campaign / "res" / "manifest.json").read_text())["configurations"]}
    assert manifest["paper-long"]["runs"] == {"finished": 2} and manifest["paper-short"]["runs"] == {"finished": 2}


def _manifest(campaign):
    return {e["study"]: e for e in json.loads((campaign / "res" / "manifest.json").read_text())["configurations"]}


def test_an_export_from_a_store_without_the_study_keeps_its_results(campaign, capsys):
    """Exporting with another store (a mistaken --db, or a study run elsewhere) must not turn a
    finished study's manifest entry into "not run" while its results file stays."""
    from bnnbo.storage import Store

    assert main(["run", "c.toml", "--db", "c.db", "--only", "paper-short"]) == 0
    before = _manifest(campaign)["paper-short"]
    parquet = (campaign / "res" / "paper-short.parquet").read_bytes()
    Store("other.db").close()
    capsys.readouterr()
    assert main(["export", "c.toml", "--db", "other.db"]) == 0
    out = capsys.readouterr().out
    assert "kept paper-short: exported in res but not in this store" in " ".join(out.split())
    assert _manifest(campaign)["paper-short"] == before and before["status"] == "complete"
    assert (campaign / "res" / "paper-short.parquet").read_bytes() == parquet
    assert _manifest(campaign)["paper-long"]["status"] == "not run"  # nothing of it anywhere


def test_a_study_with_stored_steps_but_no_finished_run_is_started(campaign):
    from bnnbo.storage import Store

    s = load_study("short.toml")
    with Store("c.db") as store:
        run = store.add_run(store.save_study(s), s.cells()[0])
        step = {"index": 0, "batch": 0, "x": [0.5, 0.5], "y": [-1.0], "initial": True, "diagnostics": {}}
        store.commit_step(run.id, [step], None, None, "interrupted")
    assert main(["export", "c.toml", "--db", "c.db", "--only", "paper-short", "paper-never"]) == 0
    entry = _manifest(campaign)["paper-short"]
    assert (entry["status"], entry["runs"]) == ("started", {"interrupted": 1})
    assert _manifest(campaign)["paper-never"]["status"] == "not run"
