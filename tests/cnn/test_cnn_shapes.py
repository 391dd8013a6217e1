"""Shape inference, shape errors, parameters and summaries of the convolution layers."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from cnn.helpers import net_of
from nnc.compiler.graphs import inference_model
from nnc.compiler.layers import LAYERS, all_options
from nnc.compiler.network import Network
from nnc.compiler.spec.errors import SpecError
from nnc.compiler.spec.model import load_spec
from nnc.runtime.cli import main

SPECS = Path(__file__).resolve().parents[2] / "specs"

NEW_LAYERS = [
    "conv2d",
    "max_pool2d",
    "avg_pool2d",
    "global_avg_pool2d",
    "batch_norm",
    "local_response_norm",
]


def one_layer(input_shape, layer: str) -> Network:
    return net_of(f"input: {{shape: {list(input_shape)}}}\nlayers:\n  - {layer}\n")


@pytest.mark.parametrize(
    "input_shape, layer, out",
    [
        ([3, 32, 32], "{type: conv2d, filters: 8, kernel: 3}", (8, 30, 30)),
        ([3, 32, 32], "{type: conv2d, filters: 8, kernel: 3, padding: same}", (8, 32, 32)),
        ([3, 32, 32], "{type: conv2d, filters: 8, kernel: 3, padding: 1, stride: 2}", (8, 16, 16)),
        ([3, 227, 227], "{type: conv2d, filters: 96, kernel: 11, stride: 4}", (96, 55, 55)),
        ([3, 10, 9], "{type: conv2d, filters: 4, kernel: [3, 2], padding: [1, 0]}", (4, 10, 8)),
        ([2, 9, 9], "{type: conv2d, filters: 4, kernel: 3, dilation: 2}", (4, 5, 5)),
        ([2, 9, 9], "{type: conv2d, filters: 4, kernel: 3, dilation: 2, padding: same}", (4, 9, 9)),
        ([4, 8, 8], "{type: conv2d, filters: 6, kernel: 1, groups: 2}", (6, 8, 8)),
        ([3, 7, 7], "{type: conv2d, filters: 2, kernel: 3, stride: 2, padding: same}", (2, 4, 4)),
        ([3, 8, 8], "{type: conv2d, filters: 2, kernel: 2, stride: 3, padding: same}", (2, 3, 3)),
        ([16, 28, 28], "{type: max_pool2d, size: 2, stride: 2}", (16, 14, 14)),
        ([96, 55, 55], "{type: max_pool2d, size: 3, stride: 2}", (96, 27, 27)),
        ([4, 7, 7], "{type: max_pool2d}", (4, 3, 3)),
        ([4, 7, 7], "{type: max_pool2d, padding: same}", (4, 4, 4)),
        ([4, 8, 6], "{type: avg_pool2d, size: [2, 3]}", (4, 4, 2)),
        ([4, 8, 8], "{type: avg_pool2d, size: 3, stride: 1, padding: 1}", (4, 8, 8)),
        ([5, 6, 7], "{type: global_avg_pool2d}", (5,)),
        ([5, 6, 7], "{type: batch_norm}", (5, 6, 7)),
        ([12], "{type: batch_norm}", (12,)),
        ([5, 6, 7], "{type: local_response_norm}", (5, 6, 7)),
    ],
)
def test_output_shapes(input_shape, layer, out):
    assert one_layer(input_shape, layer).output_shape == out


@pytest.mark.parametrize("size", range(1, 12))
@pytest.mark.parametrize("stride", [1, 2, 3])
@pytest.mark.parametrize("kernel", [1, 2, 3, 4])
def test_same_padding_gives_ceil_and_puts_the_odd_pad_at_the_end(size, stride, kernel):
    net = one_layer(
        [1, size, size + 1],
        f"{{type: conv2d, filters: 1, kernel: {kernel}, stride: {stride}, padding: same}}",
    )
    assert net.output_shape == (1, math.ceil(size / stride), math.ceil((size + 1) / stride))
    conv = next(
        n for n in inference_model(net, net.initial_values(0)).graph.node if n.op_type == "Conv"
    )
    pads = next(a.ints for a in conv.attribute if a.name == "pads")
    top, left, bottom, right = pads
    assert 0 <= bottom - top <= 1 and 0 <= right - left <= 1


def errors(input_shape, layers: str) -> list:
    with pytest.raises(SpecError) as info:
        net_of(f"input: {{shape: {list(input_shape)}}}\nlayers:\n{layers}")
    return info.value.diagnostics


@pytest.mark.parametrize(
    "input_shape, layers, path, words",
    [
        (
            [1, 4, 4],
            "  - {type: conv2d, filters: 2, kernel: 5}\n",
            "layers[0].kernel",
            ["spans 5 rows", "only 4"],
        ),
        (
            [1, 8, 8],
            "  - {type: conv2d, filters: 2, kernel: 3}\n"
            "  - {type: conv2d, filters: 2, kernel: 7}\n",
            "layers[1].kernel",
            ["spans 7", "only 6", "input shape [2, 6, 6]"],
        ),
        (
            [1, 8, 8],
            "  - {type: conv2d, filters: 2, kernel: 3, dilation: 4}\n",
            "layers[0].kernel",
            ["spans 9 rows"],
        ),
        (
            [3, 8, 8],
            "  - {type: conv2d, filters: 4, kernel: 3, groups: 2}\n",
            "layers[0].groups",
            ["3 input channels cannot be split into 2 groups"],
        ),
        (
            [4, 8, 8],
            "  - {type: conv2d, filters: 3, kernel: 3, groups: 2}\n",
            "layers[0].groups",
            ["3 filters cannot be split into 2 groups"],
        ),
        ([64], "  - {type: conv2d, filters: 3, kernel: 3}\n", "layers[0].type", ["[C, H, W]"]),
        ([2, 3, 3], "  - {type: max_pool2d, size: 4}\n", "layers[0].size", ["window spans 4"]),
        (
            [2, 6, 6],
            "  - {type: max_pool2d, size: 2, padding: 2}\n",
            "layers[0].padding",
            ["not smaller than the window"],
        ),
        ([2, 6], "  - {type: global_avg_pool2d}\n", "layers[0].type", ["[C, H, W]"]),
        (
            [4, 3, 3],
            "  - {type: local_response_norm, size: 4}\n",
            "layers[0].size",
            ["size 4 is even"],
        ),
        (
            [2, 3, 3],
            "  - {type: conv2d, filters: 1, kernel: 2, weights: [[[[1, 2], [3, 4]]]]}\n",
            "layers[0].weights",
            ["shape [1, 1, 2, 2]", "[1, 2, 2, 2]"],
        ),
    ],
)
def test_shape_errors_name_the_layer_and_option(input_shape, layers, path, words):
    (diag,) = errors(input_shape, layers)
    assert diag.path == path, str(diag)
    assert diag.line is not None
    for w in words:
        assert w in diag.message, diag.message


def test_conv_parameters_and_fans():
    net = one_layer([6, 9, 9], "{type: conv2d, name: c, filters: 4, kernel: [3, 2], groups: 2}")
    w, b = net.params
    assert (w.name, w.shape, w.fan_in, w.fan_out) == ("c.weight", (4, 3, 3, 2), 18, 12)
    assert (b.name, b.shape, b.regularize) == ("c.bias", (4,), False)


def test_explicit_conv_weights_are_used():
    weights = np.arange(8, dtype=float).reshape(2, 1, 2, 2).tolist()
    net = one_layer(
        [1, 3, 3],
        f"{{type: conv2d, name: c, filters: 2, kernel: 2, weights: {weights}, bias: [1, -1]}}",
    )
    values = net.initial_values(0)
    np.testing.assert_array_equal(values["c.weight"], np.asarray(weights, np.float32))
    np.testing.assert_array_equal(values["c.bias"], [1, -1])


def test_batch_norm_parameters():
    net = one_layer([5, 4, 4], "{type: batch_norm, name: bn}")
    by_name = {p.name: p for p in net.params}
    assert set(by_name) == {"bn.gamma", "bn.beta", "bn.running_mean", "bn.running_var"}
    assert [p.name for p in net.trainable()] == ["bn.gamma", "bn.beta"]
    assert not any(p.regularize for p in net.params)
    assert by_name["bn.running_var"].state and not by_name["bn.running_var"].trainable
    values = net.initial_values(0)
    np.testing.assert_array_equal(values["bn.gamma"], np.ones(5))
    np.testing.assert_array_equal(values["bn.running_var"], np.ones(5))
    np.testing.assert_array_equal(values["bn.running_mean"], np.zeros(5))
    plain = one_layer([5, 4, 4], "{type: batch_norm, name: bn, scale: false, center: false}")
    assert [p.name for p in plain.params] == ["bn.running_mean", "bn.running_var"]


def _summary(capsys, name: str) -> str:
    assert main(["summary", str(SPECS / name)]) == 0
    return capsys.readouterr().out


def test_lenet_summary_counts_matlabs_180880_learnables(capsys):
    out = _summary(capsys, "lenet.yaml")
    assert "Trainable parameters: 180,880" in out
    # the 2 * (16 + 32 + 64) running statistics are state, not learnables
    assert "Total parameters:     181,104" in out
    assert "Frozen parameters:    0" in out
    assert "Non-trainable state:  224 (running statistics)" in out
    assert "[N, 64, 7, 7]" in out and "[N, 3136]" in out


def test_alexnet_summary_counts_60965224(capsys):
    out = _summary(capsys, "alexnet.yaml")
    assert "Total parameters:     60,965,224" in out
    assert "Trainable parameters: 60,965,224" in out
    for shape in ("[N, 96, 55, 55]", "[N, 256, 27, 27]", "[N, 384, 13, 13]", "[N, 9216]"):
        assert shape in out


def test_alexnet_parameters_per_layer():
    net = Network(load_spec(SPECS / "alexnet.yaml"))
    per_layer: dict[str, int] = {}
    for p in net.params:
        layer = p.name.rsplit(".", 1)[0]
        per_layer[layer] = per_layer.get(layer, 0) + math.prod(p.shape)
    assert per_layer == {
        "conv1": 34_944,
        "conv2": 307_456,
        "conv3": 885_120,
        "conv4": 663_936,
        "conv5": 442_624,
        "fc6": 37_752_832,
        "fc7": 16_781_312,
        "fc8": 4_097_000,
    }


@pytest.mark.parametrize("layer_type", NEW_LAYERS)
def test_every_option_has_a_description_and_a_default_or_is_required(layer_type):
    for name, option in all_options(LAYERS[layer_type]).items():
        assert option.description, f"{layer_type}.{name}"
        schema = option.to_schema()
        if isinstance(option.default, (int, float)) and not isinstance(option.default, bool):
            assert schema.get("type") in ("integer", "number") or "oneOf" in schema, name
            if schema.get("type") in ("integer", "number"):
                assert any(k in schema for k in ("minimum", "exclusiveMinimum")) or name == "axis"
