"""1-D convolution and pooling on [C, T] sequences: forward against NumPy loops, and the whole
training graph against the same network written with 2-D layers on [C, 1, T] (whose weight
gradient takes another path, im2col)."""

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


def conv1d_reference(x, w, bias, stride, pads, dilation, groups):
    """Cross-correlation of x [N, C, T] by w [F, C / groups, k], by loops."""
    n, c, _ = x.shape
    f, per_group, k = w.shape
    xp = np.pad(x, [(0, 0), (0, 0), (pads[0], pads[1])])
    extent = (k - 1) * dilation + 1
    steps = (xp.shape[2] - extent) // stride + 1
    out = np.zeros((n, f, steps))
    for m in range(f):
        g = m // (f // groups)
        for t in range(steps):
            window = xp[:, g * per_group : (g + 1) * per_group, t * stride : t * stride + extent]
            out[:, m, t] = (window[:, :, ::dilation] * w[m]).sum(axis=(1, 2)) + bias[m]
    return out


@pytest.mark.parametrize(
    ("opts", "stride", "pads", "dilation", "groups"),
    [
        ("kernel: 3", 1, (0, 0), 1, 1),
        # 11 steps to ceil(11 / 2) = 6 needs 3 zeros: the odd one goes at the end
        ("kernel: 4, stride: 2, padding: same", 2, (1, 2), 1, 1),
        ("kernel: 3, padding: 2, dilation: 2, groups: 2", 1, (2, 2), 2, 2),
        ("kernel: 5, stride: 3, padding: same", 3, (1, 2), 1, 1),
    ],
)
def test_conv1d_matches_loops(opts, stride, pads, dilation, groups):
    net = _net(f"input: {{shape: [4, 11]}}\nlayers:\n  - {{type: conv1d, filters: 6, {opts}}}\n")
    rng = np.random.default_rng(0)
    values = {k: rng.normal(size=v.shape) for k, v in net.initial_values(0).items()}
    x = rng.normal(size=(3, 4, 11))
    y = Interpreter(inference_model(net, values, np.float64)).run(["y"], {"x": x})[0]
    expect = conv1d_reference(
        x, values["conv1d_0.weight"], values["conv1d_0.bias"], stride, pads, dilation, groups
    )
    assert net.output_shape == expect.shape[1:]
    np.testing.assert_allclose(y, expect, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(
    ("pool", "opts", "reference"),
    [
        ("max_pool1d", "size: 3, stride: 2", lambda w: w.max(axis=-1)),
        ("avg_pool1d", "size: 3, stride: 2", lambda w: w.mean(axis=-1)),
    ],
)
def test_pools_match_windows(pool, opts, reference):
    net = _net(f"input: {{shape: [2, 9]}}\nlayers:\n  - {{type: {pool}, {opts}}}\n")
    x = np.random.default_rng(1).normal(size=(3, 2, 9))
    y = Interpreter(inference_model(net, {}, np.float64)).run(["y"], {"x": x})[0]
    windows = np.stack([x[:, :, s : s + 3] for s in range(0, 7, 2)], axis=2)  # [N, C, 4, 3]
    np.testing.assert_allclose(y, reference(windows), rtol=1e-12)
    net = _net("input: {shape: [2, 9]}\nlayers:\n  - {type: global_avg_pool1d}\n")
    y = Interpreter(inference_model(net, {}, np.float64)).run(["y"], {"x": x})[0]
    np.testing.assert_allclose(y, x.mean(axis=2), rtol=1e-12)


ONE_D = """
input: {shape: [3, 16]}
layers:
  - {type: conv1d, filters: 4, kernel: 3, padding: same, activation: tanh}
  - {type: max_pool1d, size: 3, stride: 2, padding: 1}
  - {type: conv1d, filters: 4, kernel: 2, dilation: 2, groups: 2}
  - {type: avg_pool1d, size: 2, padding: same}
  - {type: conv1d, filters: 2, kernel: 3, stride: 2, padding: 1}
  - {type: global_avg_pool1d}
  - {type: dense, units: 3}
loss: cross_entropy
"""
TWO_D = """
input: {shape: [3, 1, 16]}
layers:
  - {type: conv2d, filters: 4, kernel: [1, 3], padding: same, activation: tanh}
  - {type: max_pool2d, size: [1, 3], stride: [1, 2], padding: [0, 1]}
  - {type: conv2d, filters: 4, kernel: [1, 2], dilation: [1, 2], groups: 2}
  - {type: avg_pool2d, size: [1, 2], padding: same}
  - {type: conv2d, filters: 2, kernel: [1, 3], stride: [1, 2], padding: [0, 1]}
  - {type: global_avg_pool2d}
  - {type: dense, units: 3}
loss: cross_entropy
"""


def test_1d_network_trains_like_its_2d_twin():
    """Loss, metrics and every gradient equal those of the same layers over [C, 1, T]."""
    one, two = _net(ONE_D), _net(TWO_D)
    rng = np.random.default_rng(2)
    values = {k: rng.normal(0.0, 0.5, v.shape) for k, v in one.initial_values(0).items()}
    # conv weights [F, C, k] -> [F, C, 1, k], under the 2-D layers' names
    twin = {
        k.replace("1d", "2d"): v[:, :, None, :] if v.ndim == 3 else v for k, v in values.items()
    }
    x, t = rng.normal(size=(5, 3, 16)), rng.integers(0, 3, 5)

    def run(net, vals, x):
        model = training_graphs(net, np.float64).gradient
        names = [o.name for o in model.graph.output]
        return dict(zip(names, Interpreter(model).run(names, {"x": x, "y": t, **vals})))

    ours, theirs = run(one, values, x), run(two, twin, x[:, :, None, :])
    assert set(ours) == {k.replace("2d", "1d") for k in theirs}
    for name, value in ours.items():
        other = theirs[name.replace("1d", "2d")]
        np.testing.assert_allclose(
            value, np.reshape(other, np.shape(value)), rtol=1e-10, atol=1e-13, err_msg=name
        )


def test_a_1d_layer_on_an_image_names_the_shape_it_needs():
    with pytest.raises(SpecError, match=r"layers\[0\]\.type: conv1d needs a \[channels, steps\]"):
        _net("input: {shape: [3, 8, 8]}\nlayers:\n  - {type: conv1d, filters: 2, kernel: 3}\n")
    with pytest.raises(SpecError, match=r"the window spans 5 steps but the input has only 4"):
        _net("input: {shape: [3, 4]}\nlayers:\n  - {type: max_pool1d, size: 5}\n")
