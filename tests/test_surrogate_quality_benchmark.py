"""benchmarks/surrogate_quality.py: measures into a jsonl, skips what is there, and regenerates the
doc's marked section from the jsonl alone (mean ± SE over seeds)."""

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("surrogate_quality", ROOT / "benchmarks" / "surrogate_quality.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_measures_resumes_and_regenerates_the_doc(bench, tmp_path):
    out, doc = tmp_path / "q.jsonl", tmp_path / "docs" / "q.md"
    doc.parent.mkdir()
    doc.write_text(f"# title\n\nhand-written\n\n{bench.BEGIN}\nold\n{bench.END}\n\nafter\n")
    args = [
        "--seeds",
        "2",
        "--n",
        "8",
        "--m",
        "20",
        "--problems",
        "branin",
        "--surrogates",
        "gp,ibnn",
        "--out",
        str(out),
        "--doc",
        str(doc),
        "--figures",
        str(tmp_path / "docs" / "figures"),
    ]
    assert bench.main(args) == 0
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert [(r["seed"], r["surrogate"]) for r in rows] == [(0, "gp"), (0, "ibnn"), (1, "gp"), (1, "ibnn")]
    assert bench.main(args) == 0 and len(out.read_text().splitlines()) == 4  # nothing measured twice
    text = doc.read_text()
    assert text.startswith("# title\n\nhand-written\n") and text.endswith("after\n") and "\nold\n" not in text
    gp = [r for r in rows if r["surrogate"] == "gp"]
    mean, se = bench.mean_se([r["nll"] for r in gp])
    assert f"| gp | 2 | {mean:.3f} ± {se:.3f} |" in text
    assert (
        "--out" not in text and "shared" in text and (tmp_path / "docs" / "figures" / "calibration-branin.png").exists()
    )
    # the doc is a function of the jsonl: edit a number there, render again, the table follows
    rows[0]["nll"] += 1.0
    out.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert bench.main(args + ["--render-only"]) == 0
    mean2, se2 = bench.mean_se([r["nll"] for r in rows if r["surrogate"] == "gp"])
    assert f"| gp | 2 | {mean2:.3f} ± {se2:.3f} |" in doc.read_text()
