"""The recurrent lowering option (LowerCtx.recurrent, `nnc compile/export/web --recurrent`): the
cell as a Scan or unrolled in every graph computes what the native RNN/GRU/LSTM ops compute."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest

from nnc.compiler.graphs import inference_model, training_graphs
from nnc.compiler.network import Network
from nnc.compiler.spec.model import parse_spec

NATIVE = {"RNN", "GRU", "LSTM"}


def _spec(layer: str) -> str:
    return f"""
nnc: 1
name: tiny-{layer}
input: {{shape: [5, 3]}}
layers:
  - {{type: {layer}, units: 4, return_sequences: true, bidirectional: true}}
  - {{type: {layer}, units: 3}}
  - {{type: dense, units: 2}}
loss: mse
optimizer: {{type: sgd, lr: 0.1}}
"""


def _ops(model) -> set[str]:
    return {n.op_type for n in model.graph.node}


def _run(model, feeds, outputs):
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(outputs, feeds)


@pytest.mark.parametrize("layer", ["simple_rnn", "gru", "lstm"])
@pytest.mark.parametrize("recurrent", ["scan", "unrolled"])
def test_cell_lowerings_agree_with_the_native_ops(layer, recurrent):
    net = Network(parse_spec(_spec(layer)))
    values = net.initial_values(0)
    x = np.random.default_rng(1).standard_normal((6, 5, 3)).astype(np.float32)
    native = inference_model(net, values)
    other = inference_model(net, values, recurrent=recurrent)
    assert net.nodes[0].layer.op_type in _ops(native)
    assert not _ops(other) & NATIVE
    assert ("Scan" in _ops(other)) == (recurrent == "scan")
    np.testing.assert_allclose(
        _run(other, {"x": x}, ["y"])[0], _run(native, {"x": x}, ["y"])[0], rtol=1e-5, atol=1e-6
    )
    # the eval graph follows the option too; the train step always goes through the cell
    graphs = {r: training_graphs(net, recurrent=r) for r in ("native", recurrent)}
    assert _ops(graphs["native"].eval) & NATIVE and not _ops(graphs[recurrent].eval) & NATIVE
    feeds = {"x": x, "y": np.zeros((6, 2), np.float32), **values}
    losses = [_run(g.eval, feeds, ["loss"])[0] for g in graphs.values()]
    np.testing.assert_allclose(losses[1], losses[0], rtol=1e-5)
    assert ("Scan" in _ops(graphs[recurrent].train_step)) == (recurrent == "scan")


def test_an_unknown_lowering_is_refused():
    net = Network(parse_spec(_spec("gru")))
    with pytest.raises(ValueError, match="recurrent lowering 'fused'"):
        inference_model(net, net.initial_values(0), recurrent="fused")
