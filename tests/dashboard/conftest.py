"""Fixtures: the report tests' small stored study (``tests/report/report_study.py``), reused,
and a store whose labels are HTML (``evil_study.py``)."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "report"))

pytest.importorskip("starlette", reason="the dashboard extra is not installed: pip install 'bnnbo[dashboard]'")
pytest.importorskip("plotly")

from evil_study import write_evil_study
from report_study import make_study


@pytest.fixture(scope="session")
def partial_db(tmp_path_factory):
    path = tmp_path_factory.mktemp("store") / "p.db"
    make_study(f"sqlite:///{path}", partial=True)
    return f"sqlite:///{path}"


@pytest.fixture(scope="session")
def evil_db(tmp_path_factory):
    path = tmp_path_factory.mktemp("store") / "evil.db"
    write_evil_study(f"sqlite:///{path}")
    return f"sqlite:///{path}"
