import subprocess
import sys
import textwrap

import pytest

from bnnbo import get_problem
from bnnbo.errors import UnavailableError
from bnnbo.problems import PROBLEMS

STUDY_PROBLEMS = ["pde", "pest", "oil", "lunar", "poly", "nndraw", "distill", "optics", "cco"]


def test_study_problems_are_registered():
    assert set(STUDY_PROBLEMS) <= set(PROBLEMS)


@pytest.mark.parametrize("name, why", [("optics", "gym_interf"), ("cco", "power maps")])
def test_unreproducible_problems_say_why(name, why):
    with pytest.raises(UnavailableError, match=why):
        get_problem(name)


def test_modules_import_without_extras_and_name_the_extra_when_built():
    # a fresh interpreter in which the optional packages cannot be imported
    script = textwrap.dedent("""
        import sys
        class Block:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in {"pde", "numba", "gymnasium", "Box2D", "sklearn"}:
                    raise ImportError("blocked " + name)
        sys.meta_path.insert(0, Block())
        import bnnbo.problems.pde, bnnbo.problems.lunar, bnnbo.problems.distill
        from bnnbo import get_problem
        from bnnbo.errors import UnavailableError
        for name in ("pde", "lunar", "distill"):
            try:
                get_problem(name)
            except UnavailableError as exc:
                assert "bnnbo[problems]" in str(exc), exc
            else:
                raise SystemExit(name + " built without its extra")
        for name in ("pest", "oil", "poly", "nndraw"):  # need nothing optional
            get_problem(name)
        print("ok")
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
