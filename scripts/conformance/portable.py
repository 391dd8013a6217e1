"""Rewrites of emitted graphs into op spellings that every measured runtime runs.

A measuring tool, not part of the compiler: it shows which spelling the graph lowering should
emit instead, and, applied before a conformance run, uncovers the failures that the first
unsupported op of a graph hides. Each rewrite keeps every value name that other nodes read.

    .venv/bin/python scripts/conformance/measure.py --rewrite all
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


class _Graph:
    """A model being rewritten: fresh names, constants, and shapes from ONNX shape inference."""

    def __init__(self, model: onnx.ModelProto, tag: str):
        self.model = onnx.ModelProto()
        self.model.CopyFrom(model)
        self.g = self.model.graph
        self.tag = tag
        self.count = 0
        inferred = onnx.shape_inference.infer_shapes(self.model)
        self.info = {
            v.name: v.type.tensor_type
            for v in [*inferred.graph.value_info, *inferred.graph.input, *inferred.graph.output]
        }
        self.producer = {o: n for n in self.g.node for o in n.output}

    def name(self, what: str) -> str:
        self.count += 1
        return f"portable/{self.tag}/{what}_{self.count}"

    def const(self, value, dtype=np.int64) -> str:
        name = self.name("const")
        self.g.initializer.append(numpy_helper.from_array(np.asarray(value, dtype), name))
        return name

    def node(self, op: str, inputs: list[str], out: str | None = None, **attrs) -> tuple:
        out = out or self.name(op)
        return helper.make_node(op, inputs, [out], name=self.name(op), **attrs), out

    def dims(self, name: str) -> list:
        t = self.info[name]
        return [d.dim_value if d.HasField("dim_value") else None for d in t.shape.dim]

    def emitter(self) -> _Emitter:
        return _Emitter(self)

    def replace(self, old: onnx.NodeProto, new: list[onnx.NodeProto]) -> None:
        nodes = list(self.g.node)
        # by outputs: protobuf hands out new wrappers once the repeated field has changed
        i = next(k for k, n in enumerate(nodes) if list(n.output) == list(old.output))
        del self.g.node[:]
        self.g.node.extend(nodes[:i] + new + nodes[i + 1 :])


class _Emitter:
    """Collects the nodes that replace one node: `e(op, inputs, out=None, **attrs) -> output`."""

    def __init__(self, graph: _Graph):
        self.graph = graph
        self.nodes: list[onnx.NodeProto] = []

    def __call__(self, op: str, inputs: list[str], out: str | None = None, **attrs) -> str:
        node, o = self.graph.node(op, inputs, out=out, **attrs)
        self.nodes.append(node)
        return o


def size_as_shape_product(model: onnx.ModelProto) -> onnx.ModelProto:
    """`Size(x)` -> `ReduceProd(Shape(x), keepdims=0)` (tinygrad's Size returns a Python int)."""
    m = _Graph(model, "size")
    for n in [n for n in m.g.node if n.op_type == "Size"]:
        e = m.emitter()
        e("ReduceProd", [e("Shape", [n.input[0]])], out=n.output[0], keepdims=0)
        m.replace(n, e.nodes)
    return m.model


def softmax_ce_as_log_softmax(model: onnx.ModelProto) -> onnx.ModelProto:
    """`SoftmaxCrossEntropyLoss(z, t)` (mean, 2-D, no weights) -> `-mean(LogSoftmax(z)[t])`
    with GatherElements (tract has no SoftmaxCrossEntropyLoss)."""
    m = _Graph(model, "sce")
    for n in [n for n in m.g.node if n.op_type == "SoftmaxCrossEntropyLoss"]:
        attrs = {a.name: helper.get_attribute_value(a) for a in n.attribute}
        if attrs.get("reduction", b"mean") != b"mean" or len(n.input) > 2 or len(n.output) > 1:
            raise NotImplementedError("only reduction=mean, no weights, one output")
        z, t = n.input[:2]
        e = m.emitter()
        logp = e("LogSoftmax", [z], axis=1)
        picked = e("GatherElements", [logp, e("Unsqueeze", [t, m.const([1])])], axis=1)
        e("Neg", [e("ReduceMean", [picked], keepdims=0)], out=n.output[0])
        m.replace(n, e.nodes)
    return m.model


def batch_norm_as_arithmetic(model: onnx.ModelProto) -> onnx.ModelProto:
    """Inference-mode `BatchNormalization` whose parameters are graph inputs -> Sub/Mul/Add
    (tract accepts BatchNormalization only with constant parameters)."""
    m = _Graph(model, "bn")
    inits = {i.name for i in m.g.initializer}
    for n in [n for n in m.g.node if n.op_type == "BatchNormalization"]:
        if all(i in inits for i in n.input[1:]):
            continue
        eps = next((a.f for a in n.attribute if a.name == "epsilon"), 1e-5)
        x, scale, bias, mean, var = n.input
        rank = len(m.dims(x))
        per_channel = m.const([-1] + [1] * (rank - 2))
        e = m.emitter()
        r = {k: e("Reshape", [v, per_channel]) for k, v in zip("sbmv", (scale, bias, mean, var))}
        eps_c = m.const(np.float32(eps), np.float32)
        k = e("Div", [r["s"], e("Sqrt", [e("Add", [r["v"], eps_c])])])
        e("Add", [e("Mul", [e("Sub", [x, r["m"]]), k]), r["b"]], out=n.output[0])
        m.replace(n, e.nodes)
    return m.model


def bool_cast_as_where(model: onnx.ModelProto) -> onnx.ModelProto:
    """`Cast(bool -> int64)` -> `Where(b, 1, 0)` (tract types the Cast's int64 result as its
    internal TDim, which its Python API cannot hand out)."""
    m = _Graph(model, "cast")
    for n in [n for n in m.g.node if n.op_type == "Cast"]:
        to = next(a.i for a in n.attribute if a.name == "to")
        src = m.info.get(n.input[0])
        if to != TensorProto.INT64 or src is None or src.elem_type != TensorProto.BOOL:
            continue
        e = m.emitter()
        e("Where", [n.input[0], m.const(1), m.const(0)], out=n.output[0])
        m.replace(n, e.nodes)
    return m.model


def max_pool_scatter_per_plane(model: onnx.ModelProto) -> onnx.ModelProto:
    """MaxPool's gradient scatters into the input flattened over N*C*H*W at `Indices`; scatter
    per (n, c) plane instead, at `Indices mod (H*W)` along axis 1 of an [N*C, H*W] view. Right
    both where Indices count over the whole tensor (the ONNX spec) and per plane (tinygrad)."""
    m = _Graph(model, "maxpool")
    pools = {n.output[1]: n for n in m.g.node if n.op_type == "MaxPool" and len(n.output) > 1}
    for n in [n for n in m.g.node if n.op_type == "ScatterElements"]:
        src = m.producer.get(n.input[1])
        if src is None or src.op_type != "Reshape" or src.input[0] not in pools:
            continue
        pool = pools[src.input[0]]
        hw = int(np.prod(m.dims(pool.input[0])[2:]))
        out_hw = int(np.prod(m.dims(pool.output[1])[2:]))
        e = m.emitter()
        planes = e("Reshape", [pool.input[0], m.const([-1, hw])])
        fill = helper.make_tensor("value", m.info[pool.input[0]].elem_type, [1], [0])
        zeros = e("ConstantOfShape", [e("Shape", [planes])], value=fill)
        idx = e("Reshape", [e("Mod", [src.input[0], m.const(hw)]), m.const([-1, out_hw])])
        upd = e("Reshape", [n.input[2], m.const([-1, out_hw])])
        scattered = e("ScatterElements", [zeros, idx, upd], axis=1, reduction="add")
        e("Reshape", [scattered, m.const([-1])], out=n.output[0])
        m.replace(n, e.nodes)
    return m.model


REWRITES = {
    "size": size_as_shape_product,
    "sce": softmax_ce_as_log_softmax,
    "bn": batch_norm_as_arithmetic,
    "cast": bool_cast_as_where,
    "maxpool": max_pool_scatter_per_plane,
}


def rewrite(model: onnx.ModelProto, names: list[str]) -> onnx.ModelProto:
    for name in REWRITES if names == ["all"] else names:
        model = REWRITES[name](model)
    onnx.checker.check_model(model)
    return model
