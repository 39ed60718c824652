"""A store written before issue 15's redesign (bnnbo 1e0a1b3) opens and reports the same.

tests/data/old_store/tiny.db was written by ``bnnbo run tests/data/old_store/tiny.toml`` with that
version, and expected/ by ``tests/data/old_store/dump.py`` with it; this test runs the same dump with
today's code on a copy of the store and compares every file.
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import pandas as pd
import pytest

HERE = Path(__file__).parent / "data" / "old_store"


def _dump_module():
    spec = importlib.util.spec_from_file_location("old_store_dump", HERE / "dump.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("old_store")
    shutil.copy(HERE / "tiny.db", tmp / "tiny.db")  # opening may add columns: never touch the original
    names = _dump_module().dump(tmp / "tiny.db", tmp / "now")
    return tmp / "now", names


def test_every_expected_output_is_written_again(written):
    _, names = written
    assert sorted(p.name for p in (HERE / "expected").iterdir()) == names


@pytest.mark.parametrize("name", sorted(p.name for p in (HERE / "expected").glob("*.csv")))
def test_old_store_reports_the_same(written, name):
    out, _ = written
    expected, now = pd.read_csv(HERE / "expected" / name), pd.read_csv(out / name)
    # columns added since are allowed (summary.csv gained mean_rank); every old one is the same
    assert set(expected.columns) <= set(now.columns)
    pd.testing.assert_frame_equal(now[expected.columns], expected, check_exact=False, rtol=1e-9, atol=1e-12)


def test_old_store_run_table_is_the_same(written):
    out, _ = written
    assert (out / "run_table.txt").read_text() == (HERE / "expected" / "run_table.txt").read_text()
