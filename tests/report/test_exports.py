"""Exports hold everything a report needs: the report made from an export (Parquet, CSV, a folder)
has the same tables as the report made from the store; bad exports give one clear error."""

import json
import shutil

import pandas as pd
import pytest

from bnnbo.cli import main
from bnnbo.errors import ConfigError
from bnnbo.exports import load_exports
from bnnbo.report import all_tables
from bnnbo.report.data import load_report_data
from bnnbo.results import export_results, load_runs


def assert_same_tables(a, b):
    ta, tb = all_tables(a), all_tables(b)
    assert [t.key for t in ta] == [t.key for t in tb]
    for x, y in zip(ta, tb):
        pd.testing.assert_frame_equal(
            x.data.reset_index(drop=True), y.data.reset_index(drop=True), check_dtype=False, obj=x.key
        )
        pd.testing.assert_frame_equal(
            x.display.reset_index(drop=True), y.display.reset_index(drop=True), check_dtype=False, obj=x.key
        )


@pytest.mark.parametrize("suffix", ["parquet", "csv"])
def test_report_from_an_export_equals_the_report_from_the_store(partial_db, tmp_path, suffix):
    if suffix == "parquet":
        pytest.importorskip("pyarrow")
    path = export_results(tmp_path / f"rep.{suffix}", partial_db, study="rep")
    store, export = load_report_data(partial_db, "rep"), load_report_data(path)
    assert_same_tables(store, export)
    # the pending run has no evaluations and is kept; failed runs keep error and traceback
    assert set(export.runs.status) == {"finished", "failed", "running", "pending"}
    assert export.runs.traceback.notna().sum() == 1
    pd.testing.assert_frame_equal(
        export.evals[["run_id", "index", "trace"]], store.evals[["run_id", "index", "trace"]], check_dtype=False
    )


def test_the_export_keeps_settings_timings_and_the_study_file(partial_db, tmp_path):
    pytest.importorskip("pyarrow")
    studies, runs, evals = load_exports(export_results(tmp_path / "rep.parquet", partial_db))
    assert studies[0]["name"] == "rep" and "[surrogates.hmc]" in studies[0]["source"]
    stored = load_runs(partial_db, "rep")
    assert runs.run_id.tolist() == stored.run_id.tolist()
    assert runs.finished_at.notna().sum() == (stored.status == "finished").sum()
    assert all(isinstance(s, dict) and s for s in runs.settings) and all("n_init" in s for s in runs.spec)
    assert evals.fit_seconds.sum() > 0 and isinstance(evals.diagnostics.iloc[-1], dict)


def test_cli_report_from_a_folder_of_exports(study_db, partial_db, tmp_path):
    pytest.importorskip("pyarrow")
    folder = tmp_path / "results"
    folder.mkdir()
    export_results(folder / "rep.parquet", study_db, study="rep")
    assert main(["report", str(folder), "--out", str(tmp_path / "a")]) == 0
    assert main(["report", "--db", study_db, "--study", "rep", "--out", str(tmp_path / "b")]) == 0
    for name in ("final_best", "ranks", "status", "timing"):
        a = pd.read_csv(tmp_path / "a" / "tables" / f"{name}.csv")
        b = pd.read_csv(tmp_path / "b" / "tables" / f"{name}.csv")
        pd.testing.assert_frame_equal(a, b)
    assert (tmp_path / "a" / "report.html").exists()


def test_bad_exports_are_refused_clearly(partial_db, tmp_path, capsys):
    with pytest.raises(ConfigError, match="holds no exported results"):
        load_report_data(tmp_path)
    with pytest.raises(ConfigError, match="no exported results file"):
        load_report_data(tmp_path / "none.parquet")
    csv = export_results(tmp_path / "rep.csv", partial_db)
    with pytest.raises(ConfigError, match="no study 'other' in the exports; studies: rep"):
        load_report_data(csv, "other")
    two = tmp_path / "two"
    two.mkdir()
    for name in ("a.csv", "b.csv"):  # the same study twice
        shutil.copy(csv, two / name)
        shutil.copy(tmp_path / "rep.meta.json", two / name.replace(".csv", ".meta.json"))
    with pytest.raises(ConfigError, match="study 'rep' is in more than one"):
        load_report_data(two)
    (tmp_path / "rep.meta.json").unlink()
    with pytest.raises(ConfigError, match="its metadata 'rep.meta.json' is missing"):
        load_report_data(csv)
    (tmp_path / "rep.meta.json").write_text(json.dumps({"format": "other"}))
    with pytest.raises(ConfigError, match="not a bnnbo export"):
        load_report_data(csv)
    (tmp_path / "junk.parquet").write_text("not parquet")
    with pytest.raises(ConfigError, match="not a readable Parquet file"):
        load_report_data(tmp_path / "junk.parquet")
    assert main(["report", str(csv), "--db", partial_db]) == 2
    assert "not both" in capsys.readouterr().err
