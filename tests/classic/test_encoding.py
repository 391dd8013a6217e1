"""positional_encoding against NumPy, in the documented order, with raw coordinates in."""

from __future__ import annotations

import numpy as np
import pytest

from nnc.compiler.graphs import inference_model
from nnc.compiler.network import Network
from nnc.compiler.spec.errors import SpecError
from nnc.compiler.spec.model import parse_spec
from nnc.runtime.gradcheck import gradcheck
from nnc.runtime.interpreter import Interpreter


def gamma(p: np.ndarray, levels: int, include_input: bool) -> np.ndarray:
    """NeRF's order: p, then for k = 0..L-1 sin(2^k pi p) of every coordinate, then cos."""
    parts = [p] if include_input else []
    for k in range(levels):
        parts += [np.sin(2.0**k * np.pi * p), np.cos(2.0**k * np.pi * p)]
    return np.concatenate(parts, axis=-1)


def _net(shape, opts: str, loss: str = "") -> Network:
    return Network(
        parse_spec(
            f"input: {{shape: {shape}}}\nlayers:\n  - {{type: positional_encoding{opts}}}\n{loss}"
        )
    )


@pytest.mark.parametrize(
    ("shape", "opts", "levels", "include"),
    [
        ([3], "", 10, True),
        ([3], ", frequencies: 4, include_input: false", 4, False),
        ([5, 2], ", frequencies: 3", 3, True),  # a sequence of 2-D points: the last axis only
    ],
)
def test_encoding_matches_gamma(shape, opts, levels, include):
    net = _net(shape, opts)
    width = shape[-1] * (int(include) + 2 * levels)
    assert net.output_shape == (*shape[:-1], width)
    x = np.random.default_rng(0).uniform(-1.0, 1.0, (4, *shape))
    y = Interpreter(inference_model(net, {}, np.float64)).run(["y"], {"x": x})[0]
    np.testing.assert_allclose(y, gamma(x, levels, include), rtol=1e-12, atol=1e-12)


def test_gradient_flows_through_the_encoding():
    net = Network(
        parse_spec(
            "input: {shape: [3]}\nlayers:\n  - {type: dense, units: 2}\n"
            "  - {type: positional_encoding, frequencies: 3}\n  - {type: dense, units: 2}\n"
            "loss: mse\n"
        )
    )
    assert all(r.ok(1e-6) for r in gradcheck(net, samples=4, per_param=6))


def test_frequencies_are_bounded():
    with pytest.raises(SpecError, match="frequencies"):
        _net([3], ", frequencies: 0")
