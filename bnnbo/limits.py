"""Upper bounds on sizes a request may ask for, checked before anything is allocated.

Each is far above any sensible use; it exists so that a typo (``q = 1000000``, ``seeds = 10000000000``)
fails at once with a clear message instead of after minutes of allocation, or with a MemoryError.
"""

from __future__ import annotations

#: seeds are stored in 32-bit signed integer columns (PostgreSQL ``INTEGER``)
MAX_SEED = 2**31 - 1
#: seeds of one study (``seeds = N``)
MAX_SEEDS = 10_000
#: problem x seed x surrogate cells of one study (one run row each)
MAX_CELLS = 100_000
#: points of one ask: the acquisition optimiser works on a q x d tensor per restart
MAX_Q = 1_000
#: initial design points (one scrambled-Sobol draw)
MAX_N_INIT = 100_000
#: evaluations of one run (every one is a stored row; surrogates refit on all of them)
MAX_BUDGET = 1_000_000
#: parameters of a synthetic problem (``options = { dim = ... }``)
MAX_DIM = 10_000
#: characters of a study name or label (the store's name columns hold 200)
MAX_LABEL = 200
#: points of ``assess`` (training ``n``, test ``m``)
MAX_ASSESS_N = 100_000
MAX_ASSESS_M = 10_000_000


def check_count(name: str, value: object, minimum: int, maximum: int, why: str = "") -> int:
    """``value`` as an int in ``[minimum, maximum]`` or a ConfigError naming it."""
    import numpy as np

    from bnnbo.errors import ConfigError

    if not isinstance(value, (int, np.integer)) or isinstance(value, (bool, np.bool_)):
        raise ConfigError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if value < minimum:
        raise ConfigError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if value > maximum:
        raise ConfigError(f"{name} = {value!r} is too large; expected at most {maximum}" + (f" ({why})" if why else ""))
    return int(value)
