"""The study's high-dimensional drawn functions, generated in-process from a seed.

* ``poly`` (default d = 200): ``f(x) = sum_{i<d/4} prod_{j<4} (x[i + j d/4] - c[i + j d/4])``
  with ``c ~ N(0, I)``; x in [0, 1]^d, maximised.
* ``nndraw`` (default d = 400): the output of a random ``d -> 256 -> 256 -> 1`` tanh network
  whose weights and biases are all drawn N(0, 1); x in [0, 1]^d, maximised.

The study drew these with the global torch RNG and cached them as files (``bnn_params/``).
By default each is drawn here from its own ``torch.Generator`` seeded with ``seed`` (default 2,
the study's config seed), so the same seed gives the same function on any machine, with no
files; these are not the study's draws.

The study's own nndraw is its parameter file ``400_1_2_tanh_256_256.pt`` (one flat float64
vector of 168,705 values: layer 0 weight 256 x 400 (out x in), bias, layer 1 weight and bias,
layer 2 weight 1 x 256, bias). ``nndraw(weights=path)``, or the environment variable
``BNNBO_NNDRAW_WEIGHTS``, loads it (tensors only, no code) and then equals the study's
function. The file comes from the study's repository, which carries no licence: bnnbo does
not ship it.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import os
import pickle

import torch
from torch import Tensor

from bnnbo.errors import ConfigError
from bnnbo.problems.base import Problem, ProblemInfo, with_info
from bnnbo.space import DTYPE, SearchSpace


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(int(seed))


def _unit_box(d: int) -> SearchSpace:
    return SearchSpace.box(torch.stack([torch.zeros(d), torch.ones(d)]))


class PolyDraw(Problem):
    """Sum of d/4 products of 4 shifted coordinates; its maximum is known exactly."""

    name = "poly"
    num_objectives = 1
    negated = False
    paper_budget = {"n_init": 100, "q": 10, "iterations": 25}

    def __init__(self, dim: int = 200, seed: int = 2):
        if not isinstance(dim, int) or dim < 4 or dim % 4:
            raise ConfigError(f"poly: dim must be a positive multiple of 4, got {dim!r}")
        super().__init__(_unit_box(dim))
        self.seed = int(seed)
        self.c = torch.randn(dim, generator=_generator(seed), dtype=DTYPE)
        self.optimal_value = self._maximum()

    def _groups(self, X: Tensor) -> Tensor:
        """``n x d`` -> ``n x 4 x d/4``: row j holds the j-th factor of every product."""
        return (X - self.c).reshape(*X.shape[:-1], 4, self.dim // 4)

    def _evaluate(self, X: Tensor) -> Tensor:
        return self._groups(X).prod(-2).sum(-1)

    def _maximum(self) -> float:
        # each product is linear in each of its 4 coordinates, which appear nowhere else, so
        # the maximum over the box sits at a vertex: take the best of the 16 corners per group
        corners = torch.tensor(list(itertools.product([0.0, 1.0], repeat=4)), dtype=DTYPE)
        c = self.c.reshape(4, self.dim // 4)  # 4 x g
        factors = corners[:, :, None] - c[None]  # 16 x 4 x g
        return float(factors.prod(1).max(0).values.sum())

    def maximiser(self) -> Tensor:
        """A point (``d``) where the maximum is attained."""
        corners = torch.tensor(list(itertools.product([0.0, 1.0], repeat=4)), dtype=DTYPE)
        c = self.c.reshape(4, self.dim // 4)
        best = (corners[:, :, None] - c[None]).prod(1).argmax(0)  # g
        return corners[best].T.reshape(-1)


class NNDraw(Problem):
    """A random tanh MLP with N(0, 1) weights and biases, as a function of its input."""

    name = "nndraw"
    num_objectives = 1
    negated = False
    paper_budget = {"n_init": 100, "q": 10, "iterations": 50}

    def __init__(self, dim: int = 400, seed: int = 2, width: int = 256, depth: int = 2, weights: str | None = None):
        _check_nndraw(dim, width, depth)
        super().__init__(_unit_box(dim))
        self.seed = int(seed)
        sizes = [dim] + [width] * depth + [1]
        shapes = list(itertools.pairwise(sizes))
        weights = _weights_path(weights)
        #: where the function comes from: the study's parameter file, or the seeded draw
        self.weights = weights
        self._sha256: str | None = None
        if weights is not None:
            data = _read_weights(weights)
            self._sha256 = hashlib.sha256(data).hexdigest()
            self.layers = _layers_of(_load_vector(data, weights), shapes)
            return
        gen = _generator(seed)
        # one stream, layer by layer, weight then bias (the study's parameter-vector order)
        self.layers = [
            (torch.randn(o, i, generator=gen, dtype=DTYPE), torch.randn(o, generator=gen, dtype=DTYPE))
            for i, o in shapes
        ]

    def identity(self) -> dict[str, str]:
        return {} if self._sha256 is None else {"weights_sha256": self._sha256}

    def _evaluate(self, X: Tensor) -> Tensor:
        h = X
        for k, (W, b) in enumerate(self.layers):
            h = h @ W.T + b
            if k < len(self.layers) - 1:
                h = torch.tanh(h)
        return h.squeeze(-1)


#: environment variable naming the study's nndraw parameter file
WEIGHTS_ENV = "BNNBO_NNDRAW_WEIGHTS"


def _weights_path(weights: object) -> str | None:
    """The parameter file named by the option, else by ``$BNNBO_NNDRAW_WEIGHTS``; None: the seeded draw."""
    if weights is None:
        weights = os.environ.get(WEIGHTS_ENV) or None
    return None if weights is None else str(weights)


def _read_weights(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        raise ConfigError(f"nndraw: weights file {path!r} does not exist") from None
    except OSError as exc:
        raise ConfigError(f"nndraw: cannot read weights file {path!r}: {exc.strerror}") from None


def _load_vector(data: bytes, path: str) -> Tensor:
    """The one flat tensor a parameter file holds (``torch.load`` with ``weights_only``)."""
    try:
        vec = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError, ValueError) as exc:
        # unpickling refused (not plain tensors) or a corrupt file
        raise ConfigError(f"nndraw: cannot read weights file {path!r}: {exc}") from None
    if not isinstance(vec, Tensor) or vec.ndim != 1 or not vec.is_floating_point():
        what = f"a tensor of shape {tuple(vec.shape)}" if isinstance(vec, Tensor) else type(vec).__name__
        raise ConfigError(f"nndraw: weights file {path!r} holds {what}; expected one flat float vector")
    return vec.to(DTYPE)


def _layers_of(vec: Tensor, shapes: list[tuple[int, int]]) -> list[tuple[Tensor, Tensor]]:
    """Split a flat vector into (weight ``out x in``, bias) per layer, in that order."""
    need = sum(o * i + o for i, o in shapes)
    if vec.numel() != need:
        sizes = " -> ".join(str(i) for i, _ in shapes) + f" -> {shapes[-1][1]}"
        raise ConfigError(f"nndraw: the weights file holds {vec.numel()} values; a {sizes} network needs {need}")
    layers, k = [], 0
    for i, o in shapes:
        W = vec[k : k + o * i].reshape(o, i)
        b = vec[k + o * i : k + o * i + o]
        layers.append((W, b))
        k += o * i + o
    return layers


def poly(dim: int = 200, seed: int = 2) -> Problem:
    return PolyDraw(dim=dim, seed=seed)


def _check_nndraw(dim: object, width: object, depth: object) -> None:
    for key, value, low in (("dim", dim, 1), ("width", width, 1), ("depth", depth, 1)):
        if not isinstance(value, int) or value < low:
            raise ConfigError(f"nndraw: {key} must be an integer >= {low}, got {value!r}")


def nndraw_info(
    dim: int = 400, seed: int = 2, width: int = 256, depth: int = 2, weights: str | None = None
) -> ProblemInfo:
    """The problem's metadata without drawing the network; a weights file is hashed (its
    identity), not loaded."""
    _check_nndraw(dim, width, depth)
    path = _weights_path(weights)
    identity = {} if path is None else {"weights_sha256": hashlib.sha256(_read_weights(path)).hexdigest()}
    return ProblemInfo(
        name=NNDraw.name,
        dim=dim,
        num_objectives=1,
        negated=NNDraw.negated,
        paper_budget=NNDraw.paper_budget,
        identity=identity,
    )


@with_info(nndraw_info)
def nndraw(dim: int = 400, seed: int = 2, width: int = 256, depth: int = 2, weights: str | None = None) -> Problem:
    """``weights``: the study's parameter file (default: ``$BNNBO_NNDRAW_WEIGHTS``, else the
    seeded draw)."""
    return NNDraw(dim=dim, seed=seed, width=width, depth=depth, weights=weights)
