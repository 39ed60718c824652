"""configs/paper/*.toml: each is the study's config, and `bnnbo run` takes it.

The files' budgets and surrogate lists must be the table's (bnnbo.paper); a tiny-budget copy
of a config (1 seed, 4 initial points, one iteration of q = 1) runs every surrogate through the
CLI into a store in tmp_path. The fast subset runs the cheap surrogates on Branin; the rest of
the (problem, surrogate) pairs, with the study's full surrogate settings, are marked slow.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bnnbo import paper
from bnnbo._compat import tomllib
from bnnbo.cli import main
from bnnbo.study import StudyError, load_study

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = sorted((ROOT / "configs" / "paper").glob("*.toml"))
PROBLEM_OF = {v: k for k, v in paper.CONFIG_NAMES.items()}
#: configs whose problem evaluates in well under a second (the rest simulate or train)
CHEAP = ("branin", "hartmann", "ackley", "branincurrin", "dtlz1", "dtlz5", "pest", "oil", "poly", "bnn_400")


def test_all_thirteen_configs_are_shipped():
    assert len(CONFIGS) == 13


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_each_config_is_the_tables(path):
    raw = tomllib.loads(path.read_text())
    problem = PROBLEM_OF.get(path.stem, path.stem)
    study = paper.STUDY[problem]
    assert list(raw["problems"]) == [problem] and raw["acquisition"] == "paper"
    budget = raw["problems"][problem]
    assert (budget["n_init"], budget["q"], budget["iterations"]) == (study.n_init, study.q, study.iterations)
    assert set(raw["surrogates"]) == set(study.surrogates)
    for label, table in raw["surrogates"].items():
        settings = table.get("settings", {})
        if label == "gp":
            assert settings == {"priors": "paper"}
        elif label == "ibnn":
            kind = "synthetic" if study.ibnn_var_b == 1.3 else "realworld"
            assert settings["preset"] in (f"paper:{kind}", f"paper:{problem}")
        else:
            assert settings["preset"] in (f"paper:{problem}", f"paper:{path.stem}")


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_each_config_validates(path):
    try:
        study = load_study(path)
    except StudyError as exc:  # a problem whose optional dependencies are missing
        if all("unavailable" in p for p in exc.problems):
            pytest.skip(f"{path.name}: {exc.problems[0][:200]}")
        raise
    assert {s["label"] for s in study.surrogates} == set(paper.STUDY[PROBLEM_OF.get(path.stem, path.stem)].surrogates)


def tiny_copy(path: Path, surrogates: tuple[str, ...], out: Path) -> Path:
    """The config with 1 seed, 4 initial points, one iteration of q = 1, and only ``surrogates``."""
    head, *blocks = re.split(r"\n(?=\[surrogates\.)", path.read_text())
    head = re.sub(r"(?m)^seeds = \d+", "seeds = 1", head)
    head = re.sub(r"(?m)^n_init = \d+", "n_init = 4", head)
    head = re.sub(r"(?m)^q = \d+", "q = 1", head)
    head = re.sub(r"(?m)^iterations = \d+", "iterations = 1", head)
    kept = [b for b in blocks if re.match(r"\[surrogates\.([\w-]+)\]", b).group(1) in surrogates]
    target = out / path.name
    target.write_text("\n".join([head, *kept]) + "\n")
    return target


def run_tiny(path: Path, surrogates: tuple[str, ...], tmp_path: Path, capsys) -> None:
    study = tiny_copy(path, surrogates, tmp_path)
    try:
        load_study(study)
    except StudyError as exc:
        if all("unavailable" in p for p in exc.problems):
            pytest.skip(f"{path.name}: {exc.problems[0][:200]}")
        raise
    db = f"sqlite:///{tmp_path / 'paper.db'}"
    code = main(["run", str(study), "--db", db, "--quiet", "--threads", "1"])
    out = capsys.readouterr()
    assert code == 0, out.out + out.err
    from bnnbo import load_results

    rows = load_results(db)
    assert set(rows["surrogate"]) == set(surrogates)
    assert rows.groupby("surrogate").size().tolist() == [5] * len(surrogates)


def test_one_paper_iteration_of_the_cheap_surrogates(tmp_path, capsys):
    run_tiny(ROOT / "configs" / "paper" / "branin.toml", ("gp", "ibnn", "laplace"), tmp_path, capsys)


@pytest.mark.slow
@pytest.mark.parametrize("config", CHEAP)
@pytest.mark.parametrize("surrogate", ["gp", "ibnn", "dkl", "hmc", "sghmc", "ensemble", "laplace"])
def test_one_paper_iteration_of_every_surrogate(config, surrogate, tmp_path, capsys):
    run_tiny(ROOT / "configs" / "paper" / f"{config}.toml", (surrogate,), tmp_path, capsys)
