"""Whole-network gradient checks (float64 central differences on the NumPy interpreter) of small
networks that use each new layer in its harder configurations."""

from __future__ import annotations

import pytest

from cnn.helpers import net_of
from nnc.runtime.gradcheck import gradcheck

HEAD = "loss: cross_entropy\nlayers:\n"
TAIL = "  - {type: flatten}\n  - {type: dense, units: 3}\n  - {type: softmax}\n"

NETS = {
    "conv_groups_stride_dilation": (
        [4, 9, 8],
        "  - {type: conv2d, filters: 6, kernel: [3, 2], stride: [2, 3], dilation: [1, 2], "
        "groups: 2, padding: [1, 2], activation: tanh}\n",
    ),
    "conv_same_stride2_lost_border": (
        [2, 8, 7],
        "  - {type: conv2d, filters: 3, kernel: 4, stride: 3, padding: same, activation: tanh}\n"
        "  - {type: conv2d, filters: 2, kernel: 2, stride: 2, activation: tanh}\n",
    ),
    "max_pool_overlapping": (
        [2, 8, 8],
        "  - {type: conv2d, filters: 3, kernel: 2}\n  - {type: max_pool2d, size: 3, stride: 2}\n",
    ),
    "max_pool_same": (
        [2, 7, 7],
        "  - {type: conv2d, filters: 3, kernel: 2}\n  - {type: max_pool2d, padding: same}\n",
    ),
    "avg_pool_padded": (
        [2, 8, 7],
        "  - {type: conv2d, filters: 3, kernel: 2}\n"
        "  - {type: avg_pool2d, size: 3, stride: 2, padding: 1}\n",
    ),
    "avg_pool_count_include_pad": (
        [2, 8, 7],
        "  - {type: conv2d, filters: 3, kernel: 2}\n"
        "  - {type: avg_pool2d, size: 3, stride: 2, padding: 1, count_include_pad: true}\n",
    ),
    "global_avg_pool": (
        [2, 5, 6],
        "  - {type: conv2d, filters: 4, kernel: 3, activation: tanh}\n"
        "  - {type: global_avg_pool2d}\n",
    ),
    "batch_norm_train_conv_and_dense": (
        [2, 5, 5],
        "  - {type: conv2d, filters: 3, kernel: 2, use_bias: false}\n  - {type: batch_norm}\n"
        "  - {type: tanh}\n  - {type: flatten}\n  - {type: dense, units: 4}\n"
        "  - {type: batch_norm, momentum: 0.5, epsilon: 0.01}\n",
    ),
    "batch_norm_frozen": (
        [2, 5, 5],
        "  - {type: conv2d, filters: 3, kernel: 2}\n  - {type: batch_norm, trainable: false}\n"
        "  - {type: tanh}\n",
    ),
    "local_response_norm": (
        [7, 4, 3],
        "  - {type: conv2d, filters: 6, kernel: 2}\n"
        "  - {type: local_response_norm, size: 3, alpha: 0.5, beta: 0.75, bias: 1.5}\n",
    ),
    "local_response_norm_alexnet": (
        [3, 4, 4],
        "  - {type: conv2d, filters: 7, kernel: 2, activation: relu, bias_init: ones}\n"
        "  - {type: local_response_norm}\n  - {type: max_pool2d, size: 3, stride: 1}\n",
    ),
}


@pytest.mark.parametrize("name", NETS)
def test_gradients_match_central_differences(name):
    shape, layers = NETS[name]
    net = net_of(f"input: {{shape: {shape}}}\n" + HEAD + layers + TAIL)
    results = gradcheck(net, samples=3, per_param=16, seed=1)
    assert len(results) == 2 * len(net.trainable())  # at the initial values and moved off them
    for r in results:
        assert r.rel_error < 1e-6 or r.max_abs_error < 1e-9, r
