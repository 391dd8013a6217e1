"""Every op that any layer can emit, in any graph kind, has an interpreter kernel, and every
forward op of the graphs that are differentiated (gradient, train step) has a gradient rule or is
declared non-differentiable (inference and eval graphs may use ops that are never differentiated,
like the native LSTM); every region rule has a finite-difference case. A new layer type without
an example here fails the coverage test."""

from __future__ import annotations

import numpy as np
import onnx
import pytest

from nnc.compiler.activations import ACTIVATIONS
from nnc.compiler.autodiff.core import GRAD_RULES, NON_DIFFERENTIABLE, REGION_RULES
from nnc.compiler.graphs import inference_model, training_graphs
from nnc.compiler.layers import LAYERS
from nnc.compiler.network import Network
from nnc.compiler.spec.model import parse_spec
from nnc.runtime.interpreter.registry import supported_ops

# layer type -> (input shape, layers); each trains with mse on a dense head unless noted
LAYER_EXAMPLES: dict[str, tuple[list[int], str]] = {
    "dense": ([4], "- {type: dense, units: 3, activation: tanh}"),
    "dropout": ([4], "- {type: dense, units: 3}\n- {type: dropout, rate: 0.3}"),
    "flatten": ([2, 3, 3], "- {type: flatten}"),
    "reshape": ([6], "- {type: reshape, shape: [2, 3]}\n- {type: flatten}"),
    "add": (
        [4],
        "- {type: dense, units: 4, name: a}\n- {type: dense, units: 4, name: b, inputs: [input]}\n"
        "- {type: add, inputs: [a, b]}",
    ),
    "concat": (
        [4],
        "- {type: dense, units: 2, name: a}\n- {type: dense, units: 3, name: b, inputs: [input]}\n"
        "- {type: concat, inputs: [a, b]}",
    ),
    "multiply": (
        [4],
        "- {type: dense, units: 4, name: a}\n- {type: dense, units: 1, name: b, inputs: [input]}\n"
        "- {type: multiply, inputs: [a, b]}",
    ),
    "subtract": (
        [4],
        "- {type: dense, units: 4, name: a}\n- {type: dense, units: 4, name: b, inputs: [input]}\n"
        "- {type: subtract, inputs: [a, b]}",
    ),
    "scale": ([4], "- {type: dense, units: 3}\n- {type: scale, factor: -1, offset: 1}"),
    "highway": ([4], "- {type: highway}\n- {type: highway, activation: tanh, gate_bias: -1}"),
    "positional_encoding": (
        [2, 3],
        "- {type: dense, units: 3}\n- {type: positional_encoding, frequencies: 2}\n"
        "- {type: positional_encoding, frequencies: 1, include_input: false}\n- {type: flatten}",
    ),
    "conv2d": (
        [2, 6, 6],
        "- {type: conv2d, filters: 3, kernel: 3, padding: same, activation: relu}\n"
        "- {type: conv2d, filters: 2, kernel: 2, stride: 2, groups: 1, dilation: 1}\n"
        "- {type: conv2d, filters: 2, kernel: 6, padding: same}\n- {type: flatten}",
    ),
    "max_pool2d": ([2, 6, 6], "- {type: max_pool2d, size: 3, stride: 2}\n- {type: flatten}"),
    "avg_pool2d": ([2, 6, 6], "- {type: avg_pool2d, size: 2, padding: same}\n- {type: flatten}"),
    "global_avg_pool2d": ([2, 4, 4], "- {type: global_avg_pool2d}"),
    "conv1d": (
        [2, 9],
        "- {type: conv1d, filters: 4, kernel: 3, padding: same, activation: relu}\n"
        "- {type: conv1d, filters: 2, kernel: 2, stride: 2, groups: 2, dilation: 2}\n"
        "- {type: flatten}",
    ),
    "max_pool1d": ([2, 9], "- {type: max_pool1d, size: 3, stride: 2}\n- {type: flatten}"),
    "avg_pool1d": ([2, 9], "- {type: avg_pool1d, size: 2, padding: same}\n- {type: flatten}"),
    "global_avg_pool1d": ([3, 5], "- {type: global_avg_pool1d}"),
    "batch_norm": (
        [2, 4, 4],
        "- {type: batch_norm}\n- {type: flatten}\n- {type: batch_norm, momentum: 0.5}",
    ),
    "local_response_norm": ([4, 3, 3], "- {type: local_response_norm, size: 3}\n- {type: flatten}"),
    "simple_rnn": ([4, 3], "- {type: simple_rnn, units: 3, bidirectional: true}"),
    "gru": (
        [4, 3],
        "- {type: gru, units: 3, return_sequences: true, linear_before_reset: false}\n"
        "- {type: gru, units: 2, unroll: true}",
    ),
    "lstm": ([4, 3], "- {type: lstm, units: 3, return_sequences: true}\n- {type: flatten}"),
}
for _act in ACTIVATIONS.names():
    if _act != "linear":
        LAYER_EXAMPLES[_act] = ([4], f"- {{type: dense, units: 3}}\n- {{type: {_act}}}")

HEAD = "- {type: dense, units: 2, name: head}"


def _spec(layer_type: str):
    shape, layers = LAYER_EXAMPLES[layer_type]
    trains = ACTIVATIONS.get(layer_type) is None or ACTIVATIONS[layer_type].differentiable
    body = "\n".join("  " + line for line in (layers + "\n" + HEAD).splitlines())
    text = f"input: {{shape: {shape}}}\nlayers:\n{body}\n" + ("loss: mse\n" if trains else "")
    return parse_spec(text), trains


def test_every_layer_type_has_an_example():
    missing = sorted(set(LAYERS.names()) - set(LAYER_EXAMPLES))
    assert not missing, f"layer types without an example in this file: {missing}"


def _nodes(graph):
    """Every node, those of subgraphs (Scan bodies) included."""
    for n in graph.node:
        yield n
        for a in n.attribute:
            for sub in [a.g] if a.HasField("g") else list(a.graphs):
                yield from _nodes(sub)


def _forward_ops(model) -> set[str]:
    """Op types of the forward nodes that compute real numbers (integer and boolean values, such
    as shapes and counts, are no gradient path)."""
    inferred = onnx.shape_inference.infer_shapes(model)
    real = {onnx.TensorProto.FLOAT, onnx.TensorProto.DOUBLE}
    types = {
        v.name: v.type.tensor_type.elem_type
        for v in [*inferred.graph.value_info, *inferred.graph.output]
    }
    return {
        n.op_type
        for n in _nodes(model.graph)
        if not n.name.startswith(("grad/", "optimizer/", "optimizer."))
        and "/grad/" not in n.name
        and any(types.get(o, onnx.TensorProto.FLOAT) in real for o in n.output)
    }


@pytest.mark.parametrize("layer_type", sorted(LAYER_EXAMPLES))
def test_ops_of_every_graph_have_kernels_and_rules(layer_type):
    spec, trains = _spec(layer_type)
    net = Network(spec)
    models = {"model": inference_model(net, net.initial_values(0))}
    if trains:
        models.update(training_graphs(net).models())
    kernels = set(supported_ops())
    for kind, model in models.items():
        ops = {n.op_type for n in _nodes(model.graph)}
        assert not ops - kernels, f"{model.graph.name}: ops without a kernel: {ops - kernels}"
        if kind not in ("gradient", "train_step"):
            continue
        forward = _forward_ops(model)
        ruled = set(GRAD_RULES.names()) | set(NON_DIFFERENTIABLE.names())
        assert not forward - ruled, (
            f"{model.graph.name}: ops with neither a gradient rule nor a non-differentiable "
            f"declaration: {sorted(forward - ruled)}"
        )


def test_every_region_rule_has_a_finite_difference_case():
    from autodiff.test_rules import CASES

    missing = sorted(set(REGION_RULES.names()) - set(CASES))
    assert not missing, f"region rules without a finite-difference case: {missing}"


def test_an_undeclared_read_by_a_rule_is_caught():
    """Rules declare the forward values they read (`saves`); reading another is a bug."""
    from nnc.compiler.autodiff import gradients
    from nnc.compiler.autodiff.core import Rule
    from nnc.compiler.builder import GraphBuilder

    good = GRAD_RULES["Tanh"]
    sneaky = Rule(lambda g, node, dys: [g.b.op("Mul", [dys[0], node.input[0]])], ("y",), ())
    b = GraphBuilder("g", np.float64)
    b.add_input("x", [3])
    loss = b.op("ReduceSum", [b.op("Tanh", ["x"])], keepdims=0)
    with GRAD_RULES.overridden("Tanh", sneaky), pytest.raises(AssertionError, match="saves"):
        gradients(b, loss, ["x"])
    assert GRAD_RULES["Tanh"] is good
