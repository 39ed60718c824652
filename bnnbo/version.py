"""The package version, in one place below every module that reports it, and the code commit
that results were made with."""

from __future__ import annotations

import functools
import subprocess
from pathlib import Path

__version__ = "0.1.0"

ROOT = Path(__file__).resolve().parents[1]


@functools.cache
def code_commit(*extra: str) -> str | None:
    """The git HEAD of the checkout bnnbo runs from, with ``+dirty`` when ``bnnbo/`` (or one of
    ``extra``, paths relative to the checkout) has uncommitted changes; None outside a git
    checkout (an installed package) or without git."""
    git = ["git", "-C", str(ROOT)]
    try:
        head = subprocess.run(
            [*git, "rev-parse", "HEAD"], capture_output=True, text=True, check=True, timeout=30
        ).stdout.strip()
        dirty = subprocess.run(
            [*git, "status", "--porcelain", "--", "bnnbo", *extra],
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    if not (ROOT / "bnnbo" / "version.py").exists() or not head:
        return None
    return head + ("+dirty" if dirty else "")


def code_label() -> str:
    """What made a result: ``code_commit()``, else the package version (an installed bnnbo)."""
    return code_commit() or f"bnnbo {__version__}"
