"""A bnnbo surrogate inside Ax's modular BoTorch generator.

    from bnnbo.integrations.ax import bnnbo_generation_strategy
    client.set_generation_strategy(bnnbo_generation_strategy("ibnn", n_init=8, seed=0))

or, to build one's own strategy, name the model class in Ax's ``ModelConfig``::

    ModelConfig(botorch_model_class=BnnboModel, model_options={"surrogate": "hmc", "seed": 0})

Ax builds the model as ``BnnboModel(**BnnboModel.construct_inputs(dataset, **model_options))``
and then calls its ``fit_botorch_model`` dispatcher, which fits only the model classes
registered with it; importing this module registers ``BnnboModel`` (its fit happens at
construction, so the registered routine has nothing left to do). Ax's acquisition (qLogNEI by
default) then asks the model for posteriors like any BoTorch model. Needs ``ax-platform>=1.0``
(``pip install 'bnnbo[peers]'``); tested with 1.3.
"""

from __future__ import annotations

from typing import Any

import torch
from botorch.models.model import Model
from torch import Tensor

from bnnbo.errors import ConfigError, UnavailableError
from bnnbo.limits import MAX_SEED, check_count
from bnnbo.optimizer import derive_seed
from bnnbo.space import DTYPE
from bnnbo.surrogates import Surrogate, get_surrogate

try:
    from ax.generators.torch.botorch_modular.utils import fit_botorch_model
except ImportError as exc:  # an optional extra
    raise UnavailableError(
        f"bnnbo.integrations.ax needs ax-platform>=1.0 (pip install 'bnnbo[peers]'): {exc}"
    ) from None


class BnnboModel(Model):
    """A BoTorch model whose posterior is a fitted bnnbo surrogate's.

    ``train_X`` are in Ax's model space (already scaled to the unit cube by Ax's transforms,
    unordered choices one-hot encoded); ``input_transform`` (Ax's ``Normalize`` by default) maps
    them to the unit cube the surrogate expects. The surrogate is refitted from scratch
    each time Ax builds the model, seeded from ``seed`` and the number of training points, so
    a seeded Ax run repeats.
    """

    def __init__(
        self,
        train_X: Tensor,
        train_Y: Tensor,
        surrogate: str | Surrogate = "gp",
        surrogate_settings: dict[str, Any] | None = None,
        seed: int = 0,
        input_transform=None,
    ) -> None:
        super().__init__()
        check_count("seed", seed, 0, MAX_SEED)
        if train_X.ndim != 2 or train_Y.ndim != 2 or train_X.shape[0] != train_Y.shape[0]:
            raise ConfigError(
                f"BnnboModel: expected train_X n x d and train_Y n x m with the same n, got "
                f"{tuple(train_X.shape)} and {tuple(train_Y.shape)} (batched data is not supported)"
            )
        if train_X.shape[0] < 2:
            raise ConfigError(f"BnnboModel: a surrogate needs at least 2 observations, got {train_X.shape[0]}")
        self.surrogate = get_surrogate(surrogate, **(surrogate_settings or {}))
        # applied here rather than as BoTorch's `input_transform`, which expects GP-style
        # `train_inputs` to keep in step; in train mode a transform may learn from the data
        self.to_unit = input_transform
        X = train_X.to(DTYPE) if input_transform is None else input_transform(train_X.to(DTYPE))
        self._num_outputs = train_Y.shape[-1]
        fitted = self.surrogate.fit(X.detach(), train_Y.to(DTYPE), seed=derive_seed(int(seed), "ax", X.shape[0]))
        # kept out of the module tree: Ax's state_dict round trips must not try to load its tensors
        self._fitted = [fitted]
        self.eval()

    @classmethod
    def construct_inputs(
        cls,
        training_data,
        surrogate: str | Surrogate = "gp",
        surrogate_settings: dict[str, Any] | None = None,
        seed: int = 0,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """Ax's call: the dataset plus ``ModelConfig.model_options``. Ax's search-space keywords
        (e.g. ``categorical_features``) are not used: Ax one-hot encodes unordered choices before
        the model sees them, and the surrogate models those columns as it models any other."""
        return {
            "train_X": training_data.X,
            "train_Y": training_data.Y,
            "surrogate": surrogate,
            "surrogate_settings": surrogate_settings,
            "seed": seed,
        }

    @property
    def fitted(self) -> Model:
        """The bnnbo surrogate's fitted model (unit-cube inputs)."""
        return self._fitted[0]

    @property
    def num_outputs(self) -> int:
        return self._num_outputs

    @property
    def batch_shape(self) -> torch.Size:
        return torch.Size([])

    def posterior(
        self,
        X: Tensor,
        output_indices: list[int] | None = None,
        observation_noise=False,
        posterior_transform=None,
        **kwargs: Any,
    ):
        X = X.to(DTYPE)
        if self.to_unit is not None:
            self.to_unit.eval()
            X = self.to_unit(X)
        post = self.fitted.posterior(X)
        if output_indices is not None and list(output_indices) != list(range(self.num_outputs)):
            raise ConfigError(
                f"BnnboModel: output_indices {output_indices} are not supported; "
                f"the model has {self.num_outputs} output(s) and gives them all"
            )
        return post if posterior_transform is None else posterior_transform(post)


@fit_botorch_model.register(BnnboModel)
def _fit_bnnbo_model(model: BnnboModel, mll_class=None, mll_options=None) -> None:
    """Fitted when Ax constructed it; Ax's marginal-likelihood class does not apply."""


def bnnbo_generation_strategy(
    surrogate: str = "gp", n_init: int = 5, seed: int = 0, surrogate_settings: dict[str, Any] | None = None
):
    """Sobol for ``n_init`` trials, then Ax's modular BoTorch generator with a bnnbo surrogate."""
    from ax.adapter.registry import Generators
    from ax.generation_strategy.generation_node import GenerationStep
    from ax.generation_strategy.generation_strategy import GenerationStrategy
    from ax.generators.torch.botorch_modular.surrogate import SurrogateSpec
    from ax.generators.torch.botorch_modular.utils import ModelConfig

    check_count("n_init", n_init, 1, 10_000)
    check_count("seed", seed, 0, MAX_SEED)
    name = surrogate.name if isinstance(surrogate, Surrogate) else surrogate
    get_surrogate(surrogate, **(surrogate_settings or {}))  # unknown names and settings fail here, not mid-run
    spec = SurrogateSpec(
        model_configs=[
            ModelConfig(
                botorch_model_class=BnnboModel,
                model_options={"surrogate": surrogate, "surrogate_settings": surrogate_settings, "seed": seed},
                name=f"bnnbo-{name}",
            )
        ]
    )
    return GenerationStrategy(
        name=f"Sobol+bnnbo-{name}",
        nodes=[
            GenerationStep(generator=Generators.SOBOL, num_trials=n_init, generator_kwargs={"seed": seed}),
            GenerationStep(
                generator=Generators.BOTORCH_MODULAR, num_trials=-1, generator_kwargs={"surrogate_spec": spec}
            ),
        ],
    )
