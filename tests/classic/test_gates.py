"""Gates and highway layers: multiply, subtract and scale against NumPy, and the highway layer
against the same network spelt with dense, multiply, scale and add layers."""

from __future__ import annotations

import numpy as np
import pytest

from nnc.compiler.graphs import inference_model, training_graphs
from nnc.compiler.network import Network
from nnc.compiler.spec.errors import SpecError
from nnc.compiler.spec.model import parse_spec
from nnc.runtime.interpreter import Interpreter


def _net(text: str) -> Network:
    return Network(parse_spec(text))


def _predict(net: Network, values: dict, x: np.ndarray) -> np.ndarray:
    return Interpreter(inference_model(net, values, np.float64)).run(["y"], {"x": x})[0]


HIGHWAY = """
input: {shape: [5]}
layers:
  - {type: highway, name: hw, activation: tanh}
  - {type: dense, units: 2, name: head}
loss: mse
"""
SPELT = """
input: {shape: [5]}
layers:
  - {type: dense, units: 5, activation: tanh, name: h, inputs: [input]}
  - {type: dense, units: 5, activation: sigmoid, name: t, inputs: [input]}
  - {type: multiply, inputs: [t, h], name: th}
  - {type: scale, factor: -1, offset: 1, inputs: [t], name: carry}
  - {type: multiply, inputs: [carry, input], name: cx}
  - {type: add, inputs: [th, cx], name: sum}
  - {type: dense, units: 2, name: head}
loss: mse
"""
SAME = {
    "hw.weight": "h.weight",
    "hw.bias": "h.bias",
    "hw.gate_weight": "t.weight",
    "hw.gate_bias": "t.bias",
    "head.weight": "head.weight",
    "head.bias": "head.bias",
}


def test_highway_gate_bias_starts_at_gate_bias():
    values = _net(HIGHWAY).initial_values(0, np.float64)
    assert np.all(values["hw.gate_bias"] == -2.0) and not values["hw.bias"].any()
    other = _net(HIGHWAY.replace("activation: tanh", "activation: tanh, gate_bias: -1.5"))
    assert np.all(other.initial_values(0, np.float64)["hw.gate_bias"] == -1.5)


def test_highway_equals_its_spelling_in_merge_layers():
    """y = T * H(x) + (1 - T) * x: the same outputs, loss and gradients as dense (H), dense
    sigmoid (T), multiply, scale (1 - T), multiply and add layers with the same weights."""
    highway, spelt = _net(HIGHWAY), _net(SPELT)
    rng = np.random.default_rng(0)
    values = {k: rng.normal(0.0, 0.7, v.shape) for k, v in highway.initial_values(0).items()}
    twin = {SAME[k]: v for k, v in values.items()}
    x, t = rng.normal(size=(6, 5)), rng.normal(size=(6, 2))
    np.testing.assert_allclose(_predict(highway, values, x), _predict(spelt, twin, x), rtol=1e-12)

    def grads(net, vals):
        model = training_graphs(net, np.float64).gradient
        names = [o.name for o in model.graph.output]
        return dict(zip(names, Interpreter(model).run(names, {"x": x, "y": t, **vals})))

    ours, theirs = grads(highway, values), grads(spelt, twin)
    assert float(ours["loss"]) == pytest.approx(float(theirs["loss"]), rel=1e-12)
    for mine, other in SAME.items():
        np.testing.assert_allclose(
            ours[f"grad.{mine}"], theirs[f"grad.{other}"], rtol=1e-10, atol=1e-14, err_msg=mine
        )


@pytest.mark.parametrize(
    ("merge", "shapes", "formula"),
    [
        ("multiply", ([3, 4], [4]), lambda a, b: a * b[:, None, :]),
        ("multiply", ([3, 4], [3, 1]), lambda a, b: a * b),
        ("multiply", ([4], [1], [4]), lambda a, b, c: a * b * c),
        ("subtract", ([3, 4], [1]), lambda a, b: a - b[:, None, :]),
        ("subtract", ([4], [2, 4]), lambda a, b: a[:, None, :] - b),
    ],
)
def test_merges_broadcast_per_sample_shapes(merge, shapes, formula):
    """Per-sample shapes broadcast from the last axis; a shorter one never meets the batch."""
    layers = "\n".join(
        f"  - {{type: reshape, shape: {list(s)}, name: in{i}, inputs: [x{i}]}}"
        for i, s in enumerate(shapes)
    )
    dense = "\n".join(
        f"  - {{type: dense, units: {int(np.prod(s))}, name: x{i}, inputs: [input]}}"
        for i, s in enumerate(shapes)
    )
    names = ", ".join(f"in{i}" for i in range(len(shapes)))
    net = _net(
        f"input: {{shape: [3]}}\nlayers:\n{dense}\n{layers}\n"
        f"  - {{type: {merge}, inputs: [{names}]}}\n"
    )
    assert net.output_shape == np.broadcast_shapes(*map(tuple, shapes))
    values = net.initial_values(0, np.float64)
    x = np.random.default_rng(1).normal(size=(5, 3))
    parts = [
        (x @ values[f"x{i}.weight"] + values[f"x{i}.bias"]).reshape(5, *s)
        for i, s in enumerate(shapes)
    ]
    np.testing.assert_allclose(_predict(net, values, x), formula(*parts), rtol=1e-12)


def test_scale_is_factor_times_x_plus_offset():
    net = _net(
        "input: {shape: [3]}\nlayers:\n  - {type: scale, factor: -2.5, offset: 0.75}\n"
        "  - {type: scale}\n"
    )
    x = np.random.default_rng(2).normal(size=(4, 3))
    np.testing.assert_allclose(_predict(net, {}, x), -2.5 * x + 0.75, rtol=1e-12)


def test_merge_shapes_that_do_not_broadcast_are_named():
    text = (
        "input: {shape: [4]}\nlayers:\n  - {type: dense, units: 3, name: a}\n"
        "  - {type: multiply, inputs: [a, input]}\n"
    )
    with pytest.raises(SpecError, match=r"layers\[1\]\.inputs: inputs of shapes \[3\], \[4\]"):
        _net(text)
    with pytest.raises(SpecError, match=r"subtract layer takes exactly 2 input"):
        _net(
            "input: {shape: [4]}\nlayers:\n  - {type: dense, units: 4, name: a}\n"
            "  - {type: subtract, inputs: [a, input, a]}\n"
        )
