"""A LeNet training step (forward, loss and a hand-written backward pass in standard ops) on
the interpreter: fast enough, equal to ONNX Runtime, and its gradients equal to central
differences in float64, which checks Conv, ConvTranspose, MaxPool indices and friends together.
"""

from __future__ import annotations

import time

import numpy as np
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from nnc.runtime.interpreter import Interpreter

PARAMETERS = {
    "W1": (6, 1, 5, 5),
    "b1": (6,),
    "W2": (16, 6, 5, 5),
    "b2": (16,),
    "W3": (120, 400),
    "b3": (120,),
    "W4": (84, 120),
    "b4": (84,),
    "W5": (10, 84),
    "b5": (10,),
}


class _Graph:
    """A tiny node list builder: `g.op("Relu", ["x"], **attrs)` returns the output name."""

    def __init__(self):
        self.nodes = []

    def op(self, op_type, inputs, outputs=1, **attrs):
        names = [f"{op_type.lower()}_{len(self.nodes)}_{i}" for i in range(outputs)]
        self.nodes.append(
            helper.make_node(op_type, inputs, names, name=f"{op_type}_{len(self.nodes)}", **attrs)
        )
        return names[0] if outputs == 1 else names

    def const(self, name, array):
        self.nodes.append(
            helper.make_node(
                "Constant", [], [name], name=f"const_{name}", value=numpy_helper.from_array(array)
            )
        )
        return name


def _maxpool_backward(g, grad, indices, like, dtype):
    """Scatter-add the pooled gradient back to the argmax positions (MaxPool Indices output)."""
    flat_shape = g.const(f"flat_{like}", np.array([1, -1], np.int64))
    zero = numpy_helper.from_array(np.zeros(1, dtype))
    zeros = g.op("ConstantOfShape", [g.op("Shape", [like])], value=zero)
    scattered = g.op(
        "ScatterElements",
        [
            g.op("Reshape", [zeros, flat_shape]),
            g.op("Reshape", [indices, flat_shape]),
            g.op("Reshape", [grad, flat_shape]),
        ],
        axis=1,
        reduction="add",
    )
    return g.op("Reshape", [scattered, g.op("Shape", [like])])


def _relu_backward(g, grad, pre, dtype):
    zero = g.const(f"zero_{pre}", np.array(0.0, dtype))
    return g.op("Where", [g.op("Greater", [pre, zero]), grad, zero])


def _conv_weight_grad(g, x, dz, pads):
    """dW = Conv(x^T, dz^T)^T with batch and channels swapped."""
    swap = dict(perm=[1, 0, 2, 3])
    x_t, dz_t = g.op("Transpose", [x], **swap), g.op("Transpose", [dz], **swap)
    return g.op("Transpose", [g.op("Conv", [x_t, dz_t], pads=pads)], **swap)


def lenet_gradient_model(elem_type=TensorProto.FLOAT):
    dtype = helper.tensor_dtype_to_np_dtype(elem_type)
    g = _Graph()
    # Forward.
    z1 = g.op("Conv", ["x", "W1", "b1"], pads=[2, 2, 2, 2])
    r1 = g.op("Relu", [z1])
    p1, i1 = g.op("MaxPool", [r1], 2, kernel_shape=[2, 2], strides=[2, 2])
    z2 = g.op("Conv", [p1, "W2", "b2"])
    r2 = g.op("Relu", [z2])
    p2, i2 = g.op("MaxPool", [r2], 2, kernel_shape=[2, 2], strides=[2, 2])
    f = g.op("Flatten", [p2])
    z3 = g.op("Gemm", [f, "W3", "b3"], transB=1)
    h3 = g.op("Relu", [z3])
    z4 = g.op("Gemm", [h3, "W4", "b4"], transB=1)
    h4 = g.op("Relu", [z4])
    logits = g.op("Gemm", [h4, "W5", "b5"], transB=1)
    g.nodes.append(helper.make_node("SoftmaxCrossEntropyLoss", [logits, "y"], ["loss"]))
    # Backward: d loss / d logits = (softmax - onehot) / N.
    depth = g.const("depth", np.array(10, np.int64))
    onehot = g.op("OneHot", ["y", depth, g.const("onoff", np.array([0, 1], dtype))])
    batch = g.op("Gather", [g.op("Shape", [logits]), g.const("i0", np.array(0))])
    diff = g.op("Sub", [g.op("Softmax", [logits]), onehot])
    dlogits = g.op("Div", [diff, g.op("CastLike", [batch, logits])])
    axis0 = g.const("axis0", np.array([0], np.int64))
    grads = {}
    dz, h = dlogits, h4
    for layer, pre in [(5, z4), (4, z3), (3, None)]:
        grads[f"W{layer}"] = g.op("Gemm", [dz, h], transA=1)
        grads[f"b{layer}"] = g.op("ReduceSum", [dz, axis0], keepdims=0)
        dh = g.op("MatMul", [dz, f"W{layer}"])
        if pre is None:
            break
        dz = _relu_backward(g, dh, pre, dtype)
        h = h3 if layer == 5 else f
    dp2 = g.op("Reshape", [dh, g.op("Shape", [p2])])
    dz2 = _relu_backward(g, _maxpool_backward(g, dp2, i2, r2, dtype), z2, dtype)
    spatial = g.const("spatial", np.array([0, 2, 3], np.int64))
    grads["W2"] = _conv_weight_grad(g, p1, dz2, [0, 0, 0, 0])
    grads["b2"] = g.op("ReduceSum", [dz2, spatial], keepdims=0)
    dp1 = g.op("ConvTranspose", [dz2, "W2"])
    dz1 = _relu_backward(g, _maxpool_backward(g, dp1, i1, r1, dtype), z1, dtype)
    grads["W1"] = _conv_weight_grad(g, "x", dz1, [2, 2, 2, 2])
    grads["b1"] = g.op("ReduceSum", [dz1, spatial], keepdims=0)
    for name, value in grads.items():
        g.nodes.append(helper.make_node("Identity", [value], [f"grad_{name}"]))
    inputs = [
        helper.make_tensor_value_info("x", elem_type, ["N", 1, 28, 28]),
        helper.make_tensor_value_info("y", TensorProto.INT64, ["N"]),
    ] + [helper.make_tensor_value_info(n, elem_type, s) for n, s in PARAMETERS.items()]
    outputs = [helper.make_tensor_value_info("loss", elem_type, [])] + [
        helper.make_tensor_value_info(f"grad_{n}", elem_type, s) for n, s in PARAMETERS.items()
    ]
    graph = helper.make_graph(g.nodes, "lenet_gradient", inputs, outputs)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)], ir_version=8)


def _feeds(batch, dtype, seed=0):
    rng = np.random.default_rng(seed)
    feeds = {
        "x": rng.uniform(0, 1, (batch, 1, 28, 28)).astype(dtype),
        "y": rng.integers(0, 10, batch).astype(np.int64),
    }
    for name, shape in PARAMETERS.items():
        fan_in = np.prod(shape[1:]) if len(shape) > 1 else 10
        feeds[name] = (rng.standard_normal(shape) / np.sqrt(fan_in)).astype(dtype)
    return feeds


def test_lenet_step_is_fast_and_matches_onnxruntime():
    model = lenet_gradient_model()
    interpreter = Interpreter(model)
    feeds = _feeds(8, np.float32)
    interpreter.run(None, feeds)  # warm-up
    start = time.perf_counter()
    ours = interpreter.run(None, feeds)
    elapsed = time.perf_counter() - start
    assert elapsed < 1.0, f"one LeNet gradient step took {elapsed:.3f} s"
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(
        model.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )
    theirs = session.run(None, feeds)
    for name, a, b in zip(interpreter.output_names, ours, theirs, strict=True):
        assert a.dtype == np.float32, name
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6, err_msg=name)


def test_lenet_gradients_match_central_differences_in_float64():
    interpreter = Interpreter(lenet_gradient_model(TensorProto.DOUBLE))
    feeds = _feeds(2, np.float64, seed=1)
    results = dict(zip(interpreter.output_names, interpreter.run(None, feeds), strict=True))
    assert all(v.dtype == np.float64 for v in results.values())
    rng = np.random.default_rng(2)
    step = 1e-6
    for name in PARAMETERS:
        for _ in range(2):
            index = tuple(int(rng.integers(0, n)) for n in PARAMETERS[name])
            losses = []
            for sign in (1, -1):
                shifted = dict(feeds)
                shifted[name] = feeds[name].copy()
                shifted[name][index] += sign * step
                losses.append(interpreter.run(["loss"], shifted)[0])
            numeric = (losses[0] - losses[1]) / (2 * step)
            analytic = results[f"grad_{name}"][index]
            assert numeric == pytest.approx(analytic, rel=1e-5, abs=1e-8), (name, index)
