"""The report folder: every plot and table exists, the HTML is self-contained and labels partial
and failed results; ``bnnbo report``; a study run for real by the runner."""

import base64
import re

import numpy as np
import pytest
from report_study import PROBLEMS, SURROGATES

from bnnbo.cli import main
from bnnbo.errors import ConfigError
from bnnbo.report import write_report
from bnnbo.report.data import load_report_data, mean_se
from bnnbo.report.plots import problem_figure

TABLES = ("final_best", "ranks", "timing", "status", "failed", "diagnostics", "auto_choices", "problems")
PNG = b"\x89PNG\r\n\x1a\n"


def test_every_plot_and_table_is_written(report):
    out = report.parent
    for problem in PROBLEMS:
        assert (out / "plots" / f"{problem}.png").read_bytes().startswith(PNG)
        assert "<svg" in (out / "plots" / f"{problem}.svg").read_text()[:2000]
    assert sorted(p.stem for p in (out / "tables").glob("*.csv")) == sorted(TABLES)


def test_html_is_self_contained_with_every_plot_and_table(report):
    text = report.read_text()
    images = re.findall(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"', text)
    assert len(images) == len(PROBLEMS)
    assert all(base64.b64decode(i).startswith(PNG) for i in images)
    # nothing is fetched: no http(s) URLs in src/href, no external stylesheets or scripts
    assert not re.search(r'(src|href)="(https?:)?//', text) and "<link" not in text
    for key in TABLES:
        assert f'id="table-{key}"' in text
    for name in (*PROBLEMS, *SURROGATES, "branincurrin", "HMC diverged", "rhat_max"):
        assert name in text
    assert "Partial results" not in text and "1 run(s) failed" in text
    assert "<details><summary>show</summary><pre>Traceback (most recent" in text  # folded, escaped


def test_partial_study_is_labelled(partial_report):
    text = partial_report.read_text()
    assert "(partial)</title>" in text
    assert "Partial results: 2 of 18 runs are not finished (1 pending, 1 running)" in " ".join(text.split())
    assert "3 runs, 1 unfinished" not in text  # labels live in the PNG; the banner in the text


def test_figures_have_one_line_per_surrogate_and_a_regret_panel(partial_db):
    data = load_report_data(partial_db, "rep")
    fig = problem_figure(data, "bc")
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert labels == ["gp (3 runs)", "hmc (3 runs)", "auto (3 runs, 1 unfinished)", "initial design (3)"]
    assert len(fig.axes) == 2 and "regret" in fig.axes[1].get_ylabel()
    labels = [t.get_text() for t in problem_figure(data, "branin").legends[0].get_texts()]
    assert labels[:3] == ["gp (3 runs)", "hmc (2 of 3 runs)", "auto (2 of 3 runs)"]  # failed / pending
    data.problems["branin"].optimum = None  # unknown optimum: no regret panel
    assert len(problem_figure(data, "branin").axes) == 1


def test_mean_and_se_over_the_runs_that_reached_each_evaluation():
    values = np.array([[1.0, 2.0, 4.0], [3.0, 6.0, np.nan]])  # the second run is one short
    c = mean_se(values)
    assert c["mean"].tolist() == [2.0, 4.0, 4.0] and c.n.tolist() == [2, 2, 1]
    assert c.se[:2].tolist() == pytest.approx([1.0, 2.0]) and np.isnan(c.se[2])


def test_cli_report_and_unknown_study(study_db, tmp_path, capsys):
    assert main(["report", "--db", study_db, "--study", "rep", "--out", str(tmp_path / "r")]) == 0
    assert str(tmp_path / "r" / "report.html") in capsys.readouterr().out.replace("\n", "")
    assert main(["report", "--db", study_db, "--study", "nope"]) == 2
    assert "no study 'nope' in the store; studies: rep" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="no bnnbo store"):
        write_report(tmp_path / "missing.db")


def test_study_without_evaluations_still_reports(tmp_path):
    from bnnbo.runner import prepare_runs
    from bnnbo.storage import Store
    from bnnbo.study import parse_study

    url = f"sqlite:///{tmp_path / 'e.db'}"
    with Store(url) as store:
        prepare_runs(store, parse_study('name = "empty"\nseeds = 2\n[problems.branin]\n[surrogates.gp]\n'))
    text = write_report(url, out=tmp_path / "r").read_text()  # the only study is picked
    assert "Partial results: 2 of 2 runs" in " ".join(text.split()) and "branin" in text


def test_report_of_a_study_run_by_the_runner(tmp_path):
    from bnnbo.runner import run_study
    from bnnbo.storage import Store
    from bnnbo.study import parse_study

    study = parse_study(
        'name = "real"\nseeds = 2\nacquisition = "paper"\n[problems.branin]\nn_init = 3\n'
        'q = 1\niterations = 2\n[surrogates.gp]\nsettings = { priors = "paper" }\n'
    )
    url = f"sqlite:///{tmp_path / 'r.db'}"
    with Store(url) as store:
        assert run_study(study, store).ok
    path = write_report(url, "real", tmp_path / "out")
    final = (tmp_path / "out" / "tables" / "final_best.csv").read_text()
    assert 'branin,gp,"best value, lower is better",2,2,0,' in final
    assert "Partial results" not in path.read_text()
    timing = (tmp_path / "out" / "tables" / "timing.csv").read_text().splitlines()[1].split(",")
    assert timing[:3] == ["branin", "gp", "4"] and float(timing[3]) > 0  # 2 seeds x 2 iterations


def test_diagnostics_of_real_hmc_and_auto_runs(tmp_path):
    """The keys the report reads are the ones HMC and auto really store."""
    from bnnbo.runner import run_study
    from bnnbo.storage import Store
    from bnnbo.study import parse_study

    study = parse_study(
        'name = "diag"\nseeds = 1\n[problems.branin]\nn_init = 6\nq = 1\niterations = 2\n'
        "[surrogates.hmc]\nsettings = { widths = [8], pretrain_steps = 30, n_chains = 2, "
        "n_burn_in = 20, n_samples = 20 }\n[surrogates.auto]\n"
    )
    url = f"sqlite:///{tmp_path / 'd.db'}"
    with Store(url) as store:
        outcome = run_study(study, store)
    assert outcome.ok, outcome.failed
    write_report(url, "diag", tmp_path / "out")
    diag = (tmp_path / "out" / "tables" / "diagnostics.csv").read_text()
    for key in ("hmc,acceptance,2,", "hmc,rhat_max,2,", "hmc,ess_min,2,", "hmc,divergences,2,"):
        assert key in diag
    choices = (tmp_path / "out" / "tables" / "auto_choices.csv").read_text().splitlines()
    assert {line.split(",")[2] for line in choices[1:]} == {"gp", "ibnn"}


def test_demo_ends_by_writing_the_report(tmp_path, monkeypatch, capsys):
    import bnnbo.study

    tiny = 'name = "demo"\nseeds = 1\n[problems.branin]\nn_init = 3\nq = 1\niterations = 1\n[surrogates.gp]\n'
    real = bnnbo.study.parse_study
    monkeypatch.setattr(bnnbo.study, "parse_study", lambda text, source="": real(tiny, source))
    monkeypatch.chdir(tmp_path)
    assert main(["demo", "--db", str(tmp_path / "d.db"), "--quiet"]) == 0
    out = capsys.readouterr().out.replace("\n", "")
    assert f"report: {tmp_path / 'bnnbo-report' / 'demo' / 'report.html'}" in out
    assert (tmp_path / "bnnbo-report" / "demo" / "plots" / "branin.png").exists()
