"""ONNX Runtime and the NumPy interpreter agree on every graph of networks made of the classic
layers: gates, highway, positional encoding, 1-D convolution and pooling, the new activations."""

from __future__ import annotations

import numpy as np
import pytest
from cnn.helpers import net_of, random_feeds
from cnn.test_cnn_engines import assert_close, run_both, standard_only

from nnc.compiler.graphs import inference_model, training_graphs

SEQUENCE = """
input: {shape: [3, 20]}
layers:
  - {type: conv1d, filters: 6, kernel: 5, stride: 2, padding: same, groups: 3, activation: selu}
  - {type: max_pool1d, size: 3, stride: 2, padding: 1}
  - {type: conv1d, filters: 4, kernel: 2, dilation: 2, use_bias: false, activation: softsign}
  - {type: avg_pool1d, size: 2, stride: 1, padding: 1, count_include_pad: true}
  - {type: global_avg_pool1d}
  - {type: dense, units: 3}
loss: cross_entropy
optimizer: {type: adam, lr: 0.01}
"""
GATED = """
input: {shape: [3]}
layers:
  - {type: positional_encoding, frequencies: 4, name: enc}
  - {type: dense, units: 6, activation: sin, name: a}
  - {type: highway, activation: hard_sigmoid}
  - {type: highway, activation: {type: hard_sigmoid, alpha: 0.3}, gate_bias: -1}
  - {type: dense, units: 6, activation: cos, name: b, inputs: [enc]}
  - {type: multiply, inputs: [highway_3, b], name: m}
  - {type: scale, factor: -1, offset: 1, inputs: [m], name: s}
  - {type: subtract, inputs: [s, a]}
  - {type: dense, units: 3}
loss: cross_entropy
optimizer: {type: sgd, lr: 0.1, momentum: 0.9}
"""
NETS = {"sequence": SEQUENCE, "gated": GATED}


@pytest.mark.parametrize("name", NETS)
def test_inference_and_every_training_graph_agree(name):
    net = net_of(NETS[name])
    graphs = training_graphs(net)
    perturbed = random_feeds(net, graphs.eval, n=1)
    model = inference_model(net, {p.name: perturbed[p.name] for p in net.params})
    x = np.random.default_rng(1).normal(size=(5, *net.spec.input_shape)).astype(np.float32)
    for m in (model, *graphs.models().values()):
        standard_only(m)
    assert_close(*run_both(model, {"x": x}))
    for kind, graph in graphs.models().items():
        ours, theirs = run_both(graph, random_feeds(net, graph, graphs, n=6, seed=2))
        assert_close(ours, theirs)
        assert kind == "eval" or any(k.startswith("grad") or k.endswith(".next") for k in ours)
