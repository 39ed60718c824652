"""Optional dependencies of the problems, and the study's problems that cannot run offline.

Problem modules import their heavy or optional packages only through ``require`` when a
problem is built, so ``import bnnbo.problems.<name>`` always works and a missing extra
surfaces as one UnavailableError that says what to install.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from bnnbo.errors import UnavailableError

EXTRA = "problems"
INSTALL_HINT = f"pip install 'bnnbo[{EXTRA}]'"


def require(module: str, problem: str, package: str | None = None) -> ModuleType:
    """Import ``module`` for ``problem`` or raise UnavailableError naming the extra."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        dist = package or module
        raise UnavailableError(
            f"problem {problem!r} needs the optional package {dist!r} ({exc}); "
            f"install the {EXTRA!r} extra: {INSTALL_HINT}"
        ) from None


OPTICS_REASON = (
    "problem 'optics' (the study's interferometer alignment, Sorokin et al. 2020) is unavailable: "
    "its simulator gym_interf is not on PyPI; its repository holds several incompatible versions "
    "(different image sizes and action sets, a C++ image kernel) and the study does not say which "
    "it used, so no re-implementation could be checked against the original"
)

CCO_REASON = (
    "problem 'cco' (cellular coverage optimisation, Dreifuerst et al. 2021) is unavailable: its "
    "objective is defined through 11 precomputed received-power maps (powermatrixDT0..10.npz, "
    "several MB each) that exist only inside research git repositories, not on a package "
    "registry, and cannot be regenerated from a public description"
)


#: the study's problems that cannot run anywhere, with the reason (docs/reproduction.md lists them)
UNAVAILABLE: dict[str, str] = {"optics": OPTICS_REASON, "cco": CCO_REASON}


def optics() -> None:
    """The study's optics problem: always raises UnavailableError (see OPTICS_REASON)."""
    raise UnavailableError(UNAVAILABLE["optics"])


def cco() -> None:
    """The study's CCO problem: always raises UnavailableError (see CCO_REASON)."""
    raise UnavailableError(UNAVAILABLE["cco"])
