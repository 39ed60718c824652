"""Checks of output paths, made before any expensive work, so that a typo in ``--plot`` or
``--out`` fails at once with one clear message instead of a traceback after the computation."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from bnnbo.errors import ConfigError

#: bytes of a file-name stem made from a user's name (file systems allow 255 per name)
MAX_STEM = 120


def check_output_file(path: str | os.PathLike, what: str = "output file") -> Path:
    """``path`` can be written as a file: its folder exists and is writable, and it is not a folder."""
    path = Path(path)
    if str(path) == "" or path.is_dir():
        raise ConfigError(f"{what} {str(path)!r} is a folder; expected a file name such as results.csv")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        reason = "is not a folder" if parent.exists() else "does not exist"
        raise ConfigError(
            f"{what} {str(path)!r}: the folder {str(parent)!r} {reason}; create it first or choose another path"
        )
    if not os.access(parent, os.W_OK | os.X_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise ConfigError(f"{what} {str(path)!r} cannot be written (no permission)")
    return path


def check_output_dir(path: str | os.PathLike, what: str = "output folder") -> Path:
    """``path`` is a folder, or can be created as one: no file in the way, the first existing
    ancestor writable."""
    path = Path(path)
    probe = path
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if not probe.is_dir():
        where = "" if probe == path else f" ({str(probe)!r} is a file)"
        raise ConfigError(f"{what} {str(path)!r} is not a folder{where}; expected a folder to write into")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise ConfigError(f"{what} {str(path)!r} cannot be written (no permission on {str(probe)!r})")
    return path


def safe_stem(name: str, limit: int = MAX_STEM) -> str:
    """``name`` as a file-name stem: unchanged when short, else truncated with a short hash of the
    whole name appended, so that long names stay distinct."""
    if len(name.encode()) <= limit and name not in ("", ".", ".."):
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:10]
    head = name.encode()[: limit - 11].decode(errors="ignore")
    return f"{head}-{digest}"
