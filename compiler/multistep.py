"""Several train steps in one session call: the train-step graph as the body of an ONNX Loop.

The training split is a graph input (`data.x`, `data.y`) that a runtime keeps on its device; a
call takes `indices` [K, B] (the samples of K batches), the dropout uniforms of the K steps
stacked [K, B, ...], the first step's number `step`, `lr`, and the parameters and optimizer
state; the Loop gathers each batch inside the graph and carries parameters, state and the step
counter from one iteration to the next. Outputs: every carried tensor after the K steps as
`<name>.next` (as the train step's), and the per-step loss, metrics, grad_norm (and lr_used)
stacked [K], so that the host reads the losses once per call and still knows each step's.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper

from nnc.compiler.graphs import NEXT

DATA_X, DATA_Y, INDICES = "data.x", "data.y", "indices"
_BODY = "loop/"  # prefix of every value the body defines (a body may not shadow outer names)


def _vi(name: str, elem: int, shape) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, elem, shape)


def _dims(vi) -> list:
    t = vi.type.tensor_type
    return [d.dim_value if d.HasField("dim_value") else (d.dim_param or None) for d in t.shape.dim]


def multi_step_model(train_step: onnx.ModelProto, random_inputs: dict) -> onnx.ModelProto:
    """The K-step graph of a train-step graph (see the module docstring)."""
    g = train_step.graph
    inputs = {i.name: i for i in g.input}
    outputs = [o.name for o in g.output]
    carried = [o[: -len(NEXT)] for o in outputs if o.endswith(NEXT)]
    reported = [o for o in outputs if not o.endswith(NEXT)]
    per_step = {"x", "y", *random_inputs}
    # what the body defines itself: every input the step reads per iteration or carries, and
    # every node output; lr, frozen parameters and constants stay outer values
    defined = per_step | set(carried) | {"step"}
    for n in g.node:
        defined.update(o for o in n.output if o)
    rename = {name: _BODY + name for name in defined}

    def r(name: str) -> str:
        return rename.get(name, name) if name else name

    body_nodes = []
    it, cond = _BODY + "iteration", _BODY + "cond"
    idx = _BODY + "batch_indices"
    body_nodes.append(helper.make_node("Gather", [INDICES, it], [idx], name=idx, axis=0))
    for name, source in (("x", DATA_X), ("y", DATA_Y)):
        body_nodes.append(
            helper.make_node("Gather", [source, idx], [r(name)], name=r(name) + "/gather", axis=0)
        )
    for name in random_inputs:
        body_nodes.append(
            helper.make_node("Gather", [name, it], [r(name)], name=r(name) + "/gather", axis=0)
        )
    for n in g.node:
        copy = helper.make_node(
            n.op_type,
            [r(i) for i in n.input],
            [r(o) for o in n.output],
            name=_BODY + n.name,
            domain=n.domain,
        )
        for a in n.attribute:
            attr = copy.attribute.add()
            attr.CopyFrom(a)
            if a.type == onnx.AttributeProto.GRAPH:  # a Scan body reading the step's values
                _rename_outer_reads(attr.g, rename)
        body_nodes.append(copy)
    one = _BODY + "one"
    body_nodes.append(
        helper.make_node(
            "Constant",
            [],
            [one],
            name=one,
            value=helper.make_tensor(one, TensorProto.INT64, [], [1]),
        )
    )
    next_step = _BODY + "step.next"
    body_nodes.append(helper.make_node("Add", [r("step"), one], [next_step], name=next_step))
    cond_out = _BODY + "cond.out"
    body_nodes.append(helper.make_node("Identity", [cond], [cond_out], name=cond_out))

    def elem(name: str) -> int:
        return inputs[name].type.tensor_type.elem_type

    body_inputs = [
        _vi(it, TensorProto.INT64, []),
        _vi(cond, TensorProto.BOOL, []),
        _vi(r("step"), TensorProto.INT64, []),
        *[_vi(r(c), elem(c), _dims(inputs[c])) for c in carried],
    ]
    out_infos = {o.name: o for o in g.output}
    body_outputs = [
        _vi(cond_out, TensorProto.BOOL, []),
        _vi(next_step, TensorProto.INT64, []),
        *[_vi(r(c + NEXT), elem(c), _dims(inputs[c])) for c in carried],
        *[_vi(r(o), out_infos[o].type.tensor_type.elem_type, []) for o in reported],
    ]
    body = helper.make_graph(body_nodes, "train_step_body", body_inputs, body_outputs)

    # the outer graph
    x_vi, y_vi = inputs["x"], inputs["y"]
    outer_inputs = [
        _vi(DATA_X, elem("x"), ["D", *_dims(x_vi)[1:]]),
        _vi(DATA_Y, elem("y"), ["D", *_dims(y_vi)[1:]]),
        _vi(INDICES, TensorProto.INT64, ["K", "N"]),
        *[_vi(name, elem(name), ["K", *_dims(inputs[name])]) for name in random_inputs],
        *[i for i in g.input if i.name not in per_step],
    ]
    trips = "loop/trips"
    nodes = [
        helper.make_node("Shape", [INDICES], [trips], name=trips, start=0, end=1),
        helper.make_node(
            "Squeeze", [trips, "loop/axis0"], ["loop/trip_count"], name="loop/trip_count"
        ),
        helper.make_node(
            "Loop",
            ["loop/trip_count", "loop/true", "step", *carried],
            ["loop/last_step", *[c + NEXT for c in carried], *reported],
            name="loop",
            body=body,
        ),
    ]
    initializers = list(g.initializer)
    initializers.append(helper.make_tensor("loop/axis0", TensorProto.INT64, [1], [0]))
    initializers.append(helper.make_tensor("loop/true", TensorProto.BOOL, [], [True]))
    outer_outputs = [
        *[_vi(c + NEXT, elem(c), _dims(inputs[c])) for c in carried],
        *[_vi(o, out_infos[o].type.tensor_type.elem_type, ["K"]) for o in reported],
    ]
    graph = helper.make_graph(
        nodes, f"{g.name}.multi_step", outer_inputs, outer_outputs, initializer=initializers
    )
    model = helper.make_model(
        graph, opset_imports=list(train_step.opset_import), ir_version=train_step.ir_version
    )
    model.producer_name = train_step.producer_name
    model.producer_version = train_step.producer_version
    return model


def _rename_outer_reads(graph: onnx.GraphProto, rename: dict[str, str]) -> None:
    """In a nested subgraph, rename the reads of values that the Loop body now names anew."""
    local = {v.name for v in graph.input} | {t.name for t in graph.initializer}
    for n in graph.node:
        for i, name in enumerate(n.input):
            if name and name not in local and name in rename:
                n.input[i] = rename[name]
        for a in n.attribute:
            if a.type == onnx.AttributeProto.GRAPH:
                _rename_outer_reads(a.g, {k: v for k, v in rename.items() if k not in local})
        local.update(n.output)


def stack_random(values: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Per-step dicts of random inputs -> one dict of [K, ...] arrays."""
    return {k: np.stack([v[k] for v in values]) for k in values[0]} if values else {}
