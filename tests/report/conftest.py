"""Fixtures: the small stored study of ``report_study`` (finished, and partial) and its reports."""

import warnings

import pytest
from report_study import make_study


@pytest.fixture(scope="session")
def study_db(tmp_path_factory):
    path = tmp_path_factory.mktemp("store") / "s.db"
    make_study(f"sqlite:///{path}", partial=False)
    return f"sqlite:///{path}"


@pytest.fixture(scope="session")
def partial_db(tmp_path_factory):
    path = tmp_path_factory.mktemp("store") / "p.db"
    make_study(f"sqlite:///{path}", partial=True)
    return f"sqlite:///{path}"


@pytest.fixture(scope="session")
def report(study_db, tmp_path_factory):
    from bnnbo.report import write_report

    return write_report(study_db, "rep", tmp_path_factory.mktemp("report") / "out")


@pytest.fixture(scope="session")
def partial_report(partial_db, tmp_path_factory):
    from bnnbo.report import write_report

    with warnings.catch_warnings():  # uneven run lengths are normal, not a numpy warning
        warnings.simplefilter("error", RuntimeWarning)
        return write_report(partial_db, "rep", tmp_path_factory.mktemp("report") / "out")
