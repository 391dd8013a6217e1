"""Simplifications of a finished graph that leave its values unchanged and save runtime kernel
calls (each costs about a microsecond on onnxruntime's CPU, which is what small networks are
bound by):

- common subexpressions: a node that repeats an earlier one (same op, inputs and attributes)
  reads the earlier one's outputs instead;
- identities: multiplying or dividing by a scalar constant 1, adding or subtracting a scalar
  constant 0;
- dead nodes: those whose outputs nothing reads.

It runs after autodiff, on the emitted model, so the regions and rules never see it. Nodes with
subgraphs (Scan) are left as they are."""

from __future__ import annotations

import onnx
from onnx import numpy_helper


def _scalar_constants(graph: onnx.GraphProto) -> dict[str, float]:
    out = {}
    for t in graph.initializer:
        if len(t.dims) == 0 and t.data_type in (onnx.TensorProto.FLOAT, onnx.TensorProto.DOUBLE):
            out[t.name] = float(numpy_helper.to_array(t))
    return out


def _neutral(node: onnx.NodeProto, scalars: dict[str, float]) -> str | None:
    """The input this node passes through unchanged, if it is x*1, 1*x, x/1, x+0, 0+x, x-0."""
    if len(node.input) != 2:
        return None
    a, b = node.input
    if node.op_type == "Mul":
        if scalars.get(b) == 1.0 and a not in scalars:
            return a
        if scalars.get(a) == 1.0 and b not in scalars:
            return b
    elif node.op_type == "Div" and scalars.get(b) == 1.0:
        return a
    elif node.op_type == "Add":
        if scalars.get(b) == 0.0 and a not in scalars:
            return a
        if scalars.get(a) == 0.0 and b not in scalars:
            return b
    elif node.op_type == "Sub" and scalars.get(b) == 0.0:
        return a
    return None


def simplify(model: onnx.ModelProto) -> onnx.ModelProto:
    """The same model with repeated, neutral and dead nodes removed (in place; returned)."""
    graph = model.graph
    outputs = {o.name for o in graph.output}
    scalars = _scalar_constants(graph)
    alias: dict[str, str] = {}
    seen: dict[tuple, list[str]] = {}
    kept = []
    for node in graph.node:
        for i, name in enumerate(node.input):
            node.input[i] = alias.get(name, name)
        if any(
            a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS)
            for a in node.attribute
        ):
            kept.append(node)
            continue
        through = _neutral(node, scalars)
        if through is not None and node.output[0] not in outputs:
            alias[node.output[0]] = through
            continue
        key = (
            node.domain,
            node.op_type,
            tuple(node.input),
            len(node.output),
            tuple(a.SerializeToString() for a in node.attribute),
        )
        earlier = seen.get(key)
        if earlier is not None and not any(o in outputs for o in node.output if o):
            for mine, theirs in zip(node.output, earlier):
                if mine:
                    alias[mine] = theirs
            continue
        seen.setdefault(key, list(node.output))
        kept.append(node)
    for o in graph.output:  # an output read through an alias: keep its producer's name
        if o.name in alias:
            raise AssertionError(f"graph output {o.name!r} was simplified away")
    # dead nodes, last to first
    read = set(outputs)
    live = []
    for node in reversed(kept):
        if any(o in read for o in node.output if o) or not node.output:
            live.append(node)
            read.update(i for i in node.input if i)
            for a in node.attribute:
                if a.type == onnx.AttributeProto.GRAPH:
                    read.update(_reads(a.g))
    del graph.node[:]
    graph.node.extend(reversed(live))
    used = read | {i.name for i in graph.input}
    unused = [t for t in graph.initializer if t.name not in used]
    for t in unused:
        graph.initializer.remove(t)
    return model


def _reads(graph: onnx.GraphProto) -> set[str]:
    """Every name a subgraph reads (its outer reads among them)."""
    out: set[str] = set()
    for n in graph.node:
        out.update(i for i in n.input if i)
        for a in n.attribute:
            if a.type == onnx.AttributeProto.GRAPH:
                out.update(_reads(a.g))
    return out
