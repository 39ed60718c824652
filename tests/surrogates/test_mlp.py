import math

import pytest
import torch

from bnnbo.errors import ConfigError, DataError
from bnnbo.surrogates.networks.bnn_common import prepare, rescale_outputs
from bnnbo.surrogates.networks.mlp import MLPSpec, dtype_of, log_prior
from bnnbo.surrogates.networks.sghmc import fold_input_scaling


def _reference(spec: MLPSpec, theta_row: torch.Tensor) -> torch.nn.Sequential:
    """The same network as torch.nn layers, to check the stacked layout against."""
    mods = []
    for i, (W, b) in enumerate(spec.unflatten(theta_row[None])):
        lin = torch.nn.Linear(*W.shape[1:], dtype=theta_row.dtype)
        lin.weight.data, lin.bias.data = W[0].T.clone(), b[0, 0].clone()
        mods.append(lin)
        if i < len(spec.layers) - 1:
            mods.append(torch.nn.Tanh() if spec.activation == "tanh" else torch.nn.ReLU())
    return torch.nn.Sequential(*mods)


@pytest.mark.parametrize("activation", ["tanh", "relu"])
@pytest.mark.parametrize("widths", [(), (7,), (5, 4)])
def test_forward_matches_torch_layers(activation, widths):
    spec = MLPSpec(3, widths, 2, activation)
    theta = spec.init(4, torch.Generator().manual_seed(0)) * 3
    X = torch.rand(6, 3, dtype=torch.float64)
    out = spec.forward(theta, X)
    assert out.shape == (4, 6, 2)
    for s in range(4):
        torch.testing.assert_close(out[s], _reference(spec, theta[s])(X))
    per_net = spec.forward(theta, X.expand(4, 6, 3))  # one input set per network
    torch.testing.assert_close(per_net, out)


@pytest.mark.parametrize("activation", ["tanh", "relu"])
@pytest.mark.parametrize("shared", [True, False])
def test_potential_and_grad_match_autograd(activation, shared):
    spec = MLPSpec(3, (6, 5), 2, activation)
    theta = spec.init(3, torch.Generator().manual_seed(1)).requires_grad_()
    g = torch.Generator().manual_seed(2)
    X = torch.rand(*(() if shared else (3,)), 8, 3, generator=g, dtype=torch.float64)
    Y = torch.randn(8, 2, generator=g, dtype=torch.float64)
    noise_var = torch.rand(3, 1, 2, generator=g, dtype=torch.float64) + 0.1
    w = torch.rand(3, 8, generator=g, dtype=torch.float64)
    U, grad, f = spec.potential_and_grad(theta.detach(), X, Y, noise_var, 2.0, w)
    f_ref = spec.forward(theta, X)
    U_ref = 0.5 * (((f_ref - Y) ** 2 / noise_var).sum(-1) * w).sum(-1) - log_prior(theta, 2.0)
    (grad_ref,) = torch.autograd.grad(U_ref.sum(), theta)
    torch.testing.assert_close(f, f_ref.detach())
    torch.testing.assert_close(U, U_ref.detach())
    torch.testing.assert_close(grad, grad_ref)


def test_layout_views_share_storage_and_init_bounds():
    spec = MLPSpec(4, (3,), 1)
    assert spec.num_params == 4 * 3 + 3 + 3 * 1 + 1
    theta = spec.init(2, torch.Generator().manual_seed(0))
    for (W, b), (fi, _) in zip(spec.unflatten(theta), spec.layers):
        assert W.abs().max() <= 1 / math.sqrt(fi) and b.abs().max() <= 1 / math.sqrt(fi)
    W, _ = spec.unflatten(theta)[0]
    W[1, 0, 0] = 42.0
    assert theta[1, 0] == 42.0
    assert spec.flops(10) == sum(2 * 10 * fi * fo + 10 * fo for fi, fo in spec.layers)


def test_bad_specs_and_shapes_raise_package_errors():
    with pytest.raises(ConfigError, match="'sigmoid'"):
        MLPSpec(2, (3,), 1, "sigmoid")
    with pytest.raises(ConfigError, match="widths=\\(0,\\)"):
        MLPSpec(2, (0,), 1)
    with pytest.raises(DataError, match="S x 13"):
        MLPSpec(2, (3,), 1).unflatten(torch.zeros(2, 5))
    with pytest.raises(ConfigError, match="float16"):
        dtype_of("float16")


def test_rescale_outputs_keeps_the_raw_function():
    spec = MLPSpec(2, (5,), 2)
    theta = spec.init(3, torch.Generator().manual_seed(0))
    X = torch.rand(7, 2, dtype=torch.float64)
    old = (
        torch.tensor([1.0, -2.0], dtype=torch.float64),
        torch.tensor([3.0, 0.5], dtype=torch.float64),
    )
    new = (
        torch.tensor([0.5, 1.0], dtype=torch.float64),
        torch.tensor([2.0, 4.0], dtype=torch.float64),
    )
    raw_old = spec.forward(theta, X) * old[1] + old[0]
    raw_new = spec.forward(rescale_outputs(spec, theta, old, new), X) * new[1] + new[0]
    torch.testing.assert_close(raw_new, raw_old)


def test_fold_input_scaling_keeps_the_function():
    spec = MLPSpec(3, (4,), 1)
    theta = spec.init(2, torch.Generator().manual_seed(0))
    X = torch.rand(5, 3, dtype=torch.float64)
    mean, std = (
        torch.tensor([0.2, 0.5, 0.9], dtype=torch.float64),
        torch.tensor([0.3, 2.0, 0.1], dtype=torch.float64),
    )
    folded = fold_input_scaling(spec, theta, mean, std)
    torch.testing.assert_close(spec.forward(folded, X), spec.forward(theta, (X - mean) / std))


def test_prepare_standardises_and_keeps_constant_columns_finite():
    X = torch.rand(4, 2, dtype=torch.float64)
    Y = torch.tensor([[1.0, 5.0], [2.0, 5.0], [3.0, 5.0], [4.0, 5.0]], dtype=torch.float64)
    data = prepare(X, Y, True, "float32")
    assert data.X.dtype == torch.float32 and data.Y.dtype == torch.float32
    torch.testing.assert_close(data.Y[:, 0].mean(), torch.tensor(0.0), atol=1e-6, rtol=0)
    assert torch.isfinite(data.Y).all() and data.y_std[1] == 1.0
    raw = prepare(X, Y, False, "float64")
    assert torch.equal(raw.Y, Y) and torch.equal(raw.y_std, torch.ones(2, dtype=torch.float64))
