"""Surrogate state and optimizer checkpoints as data that cannot run code.

A state is a tree of dicts (string keys), lists and tuples whose leaves are dense CPU tensors,
``None``, bools, ints, floats and strings: what every surrogate's ``state_`` holds (HMC chain
positions, step size and mass matrix; Laplace MAP weights; the auto and hybrid surrogates'
members' states). ``encode`` writes it with ``torch.save``; ``decode`` reads it back with
``torch.load(weights_only=True)``, which rebuilds tensors and plain containers only, then checks
the tree again. A store written by an older bnnbo holds pickled states: ``from_store`` converts
those with an unpickler that knows only how to rebuild tensors, and drops (with a warning) any
state it cannot read that way, which costs a warm start and nothing else.
"""

from __future__ import annotations

import io
import logging
import pickle
import zipfile
from typing import Any

import numpy as np
import torch
from torch import Tensor

from bnnbo.errors import DataError

log = logging.getLogger("bnnbo")

STATE_FORMAT = "bnnbo-state"
VERSION = 1
MAX_DEPTH = 32


class StateError(DataError):
    """A state or checkpoint is not in bnnbo's safe format (or fails its checks)."""


def check(value: Any, where: str = "state", depth: int = 0) -> Any:
    """``value`` as a clean tree (detached CPU tensors, tuples kept); StateError naming the first
    part that is not tensors and plain data."""
    if depth > MAX_DEPTH:
        raise StateError(f"{where}: nested more than {MAX_DEPTH} levels deep")
    if isinstance(value, Tensor):
        if value.layout != torch.strided or value.is_quantized:
            raise StateError(f"{where}: expected a dense tensor, got layout {value.layout}")
        return value.detach().cpu().as_subclass(Tensor)
    if value is None or isinstance(value, str):
        return str(value) if value is not None else None
    if isinstance(value, (bool, np.bool_)):  # before int; numpy and subclass scalars become plain
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value)
    if isinstance(value, dict):
        bad = [k for k in value if not isinstance(k, str)]
        if bad:
            raise StateError(f"{where}: dict keys must be strings, got {bad[0]!r}")
        return {k: check(v, f"{where}[{k!r}]", depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        items = [check(v, f"{where}[{i}]", depth + 1) for i, v in enumerate(value)]
        return items if isinstance(value, list) else tuple(items)
    raise StateError(
        f"{where}: expected tensors, None, bool, int, float, str, or dicts / lists / "
        f"tuples of them; got {type(value).__module__}.{type(value).__qualname__}"
    )


def dumps(payload: dict[str, Any], kind: str = STATE_FORMAT) -> bytes:
    """``payload`` (checked) with a format tag, as ``torch.save`` bytes."""
    buf = io.BytesIO()
    torch.save({"format": kind, "version": VERSION, **{k: check(v, k) for k, v in payload.items()}}, buf)
    return buf.getvalue()


def loads(blob: bytes, kind: str = STATE_FORMAT, what: str = "state") -> dict[str, Any]:
    """The payload ``dumps`` wrote; StateError for anything else, before any of it is used."""
    if not isinstance(blob, (bytes, bytearray, memoryview)) or not zipfile.is_zipfile(io.BytesIO(blob)):
        raise StateError(f"{what}: not a {kind} file (expected torch.save data)")
    try:
        data = torch.load(io.BytesIO(blob), map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - refused objects, truncated or corrupt data
        raise StateError(f"{what}: not readable as tensors and plain data ({_reason(exc)})") from None
    if not isinstance(data, dict) or data.get("format") != kind:
        tag = data.get("format") if isinstance(data, dict) else type(data).__name__
        raise StateError(f"{what}: not a {kind} file (its format tag is {tag!r})")
    if data.get("version") != VERSION:
        raise StateError(
            f"{what}: {kind} version {data.get('version')!r}; this bnnbo reads version "
            f"{VERSION} (a newer bnnbo wrote it)"
        )
    return {k: check(v, f"{what}[{k!r}]") for k, v in data.items() if k not in ("format", "version")}


def _reason(exc: Exception) -> str:
    """The line of torch's refusal that names the object (not its advice to load unsafely)."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    named = [ln for ln in lines if "unsupported" in ln.lower() and "weights_only" not in ln]
    return (named or lines or [type(exc).__name__])[0][:300]


def encode(state: Any) -> bytes | None:
    """A surrogate's ``state_`` -> bytes for the store (None stays None)."""
    return None if state is None else dumps({"state": state})


def decode(blob: bytes | None) -> Any:
    """Bytes ``encode`` wrote -> the state; StateError for anything else."""
    return None if blob is None else loads(blob)["state"]


def from_store(blob: bytes | None, where: str) -> bytes | None:
    """A stored state blob in today's format: checked as is, converted from an older bnnbo's
    pickle, or None (with a warning: the run then starts its next fit cold) if neither works."""
    if blob is None:
        return None
    blob = bytes(blob)
    try:
        if blob[:1] == b"\x80":  # a pickle protocol opcode: written by bnnbo before the safe format
            return encode(_load_legacy(blob))
        decode(blob)
        return blob
    except StateError as exc:
        log.warning("%s: stored surrogate state refused, the next fit starts cold: %s", where, exc)
        return None


# ---- older stores ------------------------------------------------------------------------------
def _storage_from_bytes(data: bytes):
    """What pickled tensors call to rebuild their storage, read as tensors and plain data only."""
    if not isinstance(data, bytes):
        raise StateError("a pickled storage without its bytes")
    return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)


def _rebuild_tensor(storage, offset, size, stride, requires_grad, hooks, metadata=None) -> Tensor:
    """A pickled tensor: data, offset, shape and strides only (no hooks, no autograd flags)."""
    if hooks:
        raise StateError("a pickled tensor with backward hooks")
    return torch._utils._rebuild_tensor_v2(storage, offset, size, stride, False, {})


_LEGACY_GLOBALS = {
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch.storage", "_load_from_bytes"): _storage_from_bytes,
    ("collections", "OrderedDict"): dict,  # the empty backward-hooks argument of a tensor
}


class _TensorUnpickler(pickle.Unpickler):
    """Rebuilds plain containers and CPU tensors; any other global is refused before it is looked up."""

    def find_class(self, module: str, name: str) -> Any:
        try:
            return _LEGACY_GLOBALS[(module, name)]
        except KeyError:
            raise StateError(
                f"a pickled state refers to {module}.{name}; only tensors and plain data are read"
            ) from None

    def persistent_load(self, pid: Any) -> Any:
        raise StateError("a pickled state with persistent ids")


def _load_legacy(blob: bytes) -> Any:
    try:
        value = _TensorUnpickler(io.BytesIO(blob)).load()
    except StateError:
        raise
    except Exception as exc:  # noqa: BLE001 - truncated or corrupt pickle
        raise StateError(f"an older bnnbo's pickled state is unreadable: {type(exc).__name__}: {exc}") from None
    return check(value, "pickled state")
