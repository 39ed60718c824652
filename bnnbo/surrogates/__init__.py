"""Surrogate registry: ``get_surrogate(name, **settings)``.

Entries are ``"module:Class"`` strings, imported on first use.
"""

from __future__ import annotations

import importlib

from bnnbo.errors import unknown
from bnnbo.surrogates.base import Settings, Surrogate, make_settings

SURROGATES: dict[str, str] = {
    "gp": "bnnbo.surrogates.gaussian.gp:GPSurrogate",
    "ibnn": "bnnbo.surrogates.gaussian.ibnn:IBNNSurrogate",
    "hmc": "bnnbo.surrogates.networks.hmc:HMCSurrogate",
    "sghmc": "bnnbo.surrogates.networks.sghmc:SGHMCSurrogate",
    "ensemble": "bnnbo.surrogates.networks.ensemble:EnsembleSurrogate",
    "dkl": "bnnbo.surrogates.gaussian.dkl:DKLSurrogate",
    "laplace": "bnnbo.surrogates.networks.laplace:LaplaceSurrogate",
    "hybrid": "bnnbo.surrogates.combined.hybrid:HybridSurrogate",
    "auto": "bnnbo.surrogates.combined.auto:AutoSurrogate",
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
