"""ONNX Runtime and the NumPy interpreter agree on the CNN graphs (inference and train step), the
graphs are standard ONNX, and max pooling routes each window's gradient to one cell."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from cnn.helpers import net_of, random_feeds
from nnc.compiler.autodiff import gradients
from nnc.compiler.builder import GraphBuilder
from nnc.compiler.graphs import inference_model, training_graphs
from nnc.compiler.network import Network
from nnc.compiler.spec.model import load_spec
from nnc.runtime.interpreter import Interpreter

SPECS = Path(__file__).resolve().parents[2] / "specs"

# every new layer, with groups, dilation, stride > 1, overlapping and padded pooling
ALL_LAYERS = """
input: {shape: [4, 13, 12]}
layers:
  - {type: conv2d, filters: 6, kernel: 3, stride: 2, padding: same, groups: 2, activation: relu}
  - {type: local_response_norm, size: 3, alpha: 0.5, beta: 0.75, bias: 1}
  - {type: max_pool2d, size: 3, stride: 2, padding: 1}
  - {type: conv2d, filters: 8, kernel: 2, dilation: 2, padding: [1, 2], use_bias: false}
  - {type: batch_norm}
  - {type: relu}
  - {type: avg_pool2d, size: 2, stride: 1, padding: 1}
  - {type: global_avg_pool2d}
  - {type: dense, units: 5}
  - {type: batch_norm}
  - {type: dense, units: 3}
  - {type: softmax}
loss: cross_entropy
optimizer: {type: sgd, lr: 0.1, momentum: 0.9}
"""

NETS = {
    "lenet": lambda: Network(load_spec(SPECS / "lenet.yaml")),
    "digits-cnn": lambda: Network(load_spec(SPECS / "digits-cnn.yaml")),
    "all-layers": lambda: net_of(ALL_LAYERS),
}


def assert_close(got: dict, expect: dict, rtol: float = 1e-4, atol: float = 1e-5) -> None:
    """Per tensor: relative 1e-4, plus an absolute 1e-4 of the tensor's scale (float32 sums over
    thousands of terms in different orders) and 1e-5: a conv bias just before batch norm has a
    gradient that is zero in exact arithmetic, so both engines return float32 rounding noise."""
    for name, e in expect.items():
        g, e = np.asarray(got[name]), np.asarray(e)
        assert g.shape == e.shape, name
        scale = float(np.max(np.abs(e))) if e.size else 0.0
        np.testing.assert_allclose(g, e, rtol=rtol, atol=rtol * scale + atol, err_msg=name)


def run_both(model: onnx.ModelProto, feeds: dict) -> tuple[dict, dict]:
    outs = [o.name for o in model.graph.output]
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    theirs = dict(zip(outs, sess.run(outs, feeds)))
    ours = dict(zip(outs, Interpreter(model).run(outs, feeds)))
    return ours, theirs


def standard_only(model: onnx.ModelProto) -> None:
    onnx.checker.check_model(model, full_check=True)
    assert {n.domain for n in model.graph.node} <= {"", "ai.onnx"}
    assert [o.domain for o in model.opset_import] == [""]


@pytest.mark.parametrize("name", NETS)
def test_inference_agrees(name):
    net = NETS[name]()
    rng = np.random.default_rng(1)
    # parameters off their initial values, running statistics away from 0 and 1
    perturbed = random_feeds(net, training_graphs(net).eval, n=1)
    model = inference_model(net, {p.name: perturbed[p.name] for p in net.params})
    standard_only(model)
    x = rng.normal(size=(5, *net.spec.input_shape)).astype(np.float32)
    ours, theirs = run_both(model, {"x": x})
    assert_close(ours, theirs)


@pytest.mark.parametrize("name", NETS)
def test_train_step_agrees(name):
    net = NETS[name]()
    graphs = training_graphs(net)
    for model in graphs.models().values():
        standard_only(model)
    model = graphs.train_step
    ours, theirs = run_both(model, random_feeds(net, model, graphs, n=6, seed=2))
    assert_close(ours, theirs)
    ops = {n.op_type for n in model.graph.node}
    assert {"ConvTranspose", "ScatterElements"} <= ops  # the conv and max-pool backward


def _pool_gradient(x: np.ndarray, **attrs) -> onnx.ModelProto:
    """A graph x, dy -> dx of MaxPool's rule (and y)."""
    b = GraphBuilder("pool", np.float32)
    b.add_input("x", list(x.shape))
    y = b.op("MaxPool", ["x"], **attrs)
    b.add_output(y, None)
    y_shape = Interpreter(b.model()).run([y], {"x": x})[0].shape
    b.outputs.clear()
    b.add_input("dy", list(y_shape))
    loss = b.op("ReduceSum", [b.op("Mul", [y, "dy"])], keepdims=0)
    grads = gradients(b, loss, ["x"])
    b.rename(grads["x"], "dx")
    b.add_output("dx", list(x.shape))
    return b.model()


@pytest.mark.parametrize("engine", ["ort", "numpy"])
@pytest.mark.parametrize(
    "attrs",
    [
        {"kernel_shape": [2, 2], "strides": [2, 2]},
        {"kernel_shape": [3, 3], "strides": [2, 2]},
        {"kernel_shape": [3, 3], "strides": [1, 1], "pads": [1, 1, 1, 1]},
    ],
    ids=["2x2s2", "3x3s2", "3x3s1p1"],
)
def test_max_pool_ties_send_each_window_gradient_to_one_cell(engine, attrs):
    # a constant input: every window is one big tie
    x = np.full((2, 3, 7, 7), 0.5, np.float32)
    model = _pool_gradient(x, **attrs)
    y_shape = [d.dim_value for d in model.graph.input[1].type.tensor_type.shape.dim]
    dy = np.random.default_rng(0).uniform(0.5, 1.5, y_shape).astype(np.float32)
    feeds = {"x": x, "dy": dy}
    if engine == "ort":
        sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
        (dx,) = sess.run(["dx"], feeds)
    else:
        (dx,) = Interpreter(model).run(["dx"], feeds)
    # nothing is counted twice or lost: per sample and channel, the gradients add up to dy's sum
    np.testing.assert_allclose(dx.sum(axis=(2, 3)), dy.sum(axis=(2, 3)), rtol=1e-5)
    # and each window's share went to a single cell: no more cells got some than there are windows
    assert np.count_nonzero(dx) <= dy.size


def test_overlapping_max_pool_adds_the_windows_a_cell_wins():
    x = np.zeros((1, 1, 5, 5), np.float32)
    x[0, 0, 2, 2] = 1.0  # the centre wins all four 3x3/2 windows
    model = _pool_gradient(x, kernel_shape=[3, 3], strides=[2, 2])
    dy = np.array([[[[1.0, 2.0], [3.0, 4.0]]]], np.float32)
    (dx,) = Interpreter(model).run(["dx"], {"x": x, "dy": dy})
    assert dx[0, 0, 2, 2] == 10.0 and np.count_nonzero(dx) == 1
