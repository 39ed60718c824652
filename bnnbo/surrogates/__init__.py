"""Surrogate registry: ``get_surrogate(name, **settings)``.

Entries are ``"module:Class"`` strings, imported on first use.
"""

from __future__ import annotations

import importlib

from bnnbo.errors import unknown
from bnnbo.surrogates.base import Settings, Surrogate, make_settings

SURROGATES: dict[str, str] = {
    "gp": "bnnbo.surrogates.gp:GPSurrogate",
    "ibnn": "bnnbo.surrogates.ibnn:IBNNSurrogate",
    "hmc": "bnnbo.surrogates.hmc:HMCSurrogate",
    "sghmc": "bnnbo.surrogates.sghmc:SGHMCSurrogate",
    "ensemble": "bnnbo.surrogates.ensemble:EnsembleSurrogate",
    "dkl": "bnnbo.surrogates.dkl:DKLSurrogate",
    "laplace": "bnnbo.surrogates.laplace:LaplaceSurrogate",
    "hybrid": "bnnbo.surrogates.hybrid:HybridSurrogate",
    "auto": "bnnbo.surrogates.auto:AutoSurrogate",
}


def surrogate_class(name: str) -> type[Surrogate]:
    if name not in SURROGATES:
        raise unknown("surrogate", name, SURROGATES)
    module, attr = SURROGATES[name].split(":")
    return getattr(importlib.import_module(module), attr)


def get_surrogate(name: str | Surrogate, **settings) -> Surrogate:
    """A configured surrogate; unknown settings raise an error listing the allowed ones."""
    if isinstance(name, Surrogate):
        if settings:
            return type(name)(**{**name.settings.to_dict(), **settings})
        return name
    return surrogate_class(name)(**settings)


__all__ = ["SURROGATES", "Settings", "Surrogate", "get_surrogate", "make_settings", "surrogate_class"]
