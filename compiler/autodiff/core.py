"""Reverse-mode autodiff over ONNX nodes: walk the graph backwards, apply one rule per op type,
sum the gradients that reach each tensor. The rules themselves live in rules.py."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import onnx
from onnx import helper, shape_inference

from nnc.compiler.builder import GraphBuilder
from nnc.compiler.registry import Registry

Dim = int | str | None


class GradientError(Exception):
    """A differentiable path goes through an op that has no gradient rule, or a rule that cannot
    handle what it is given; the message names the op and says what to change."""


@dataclass(frozen=True)
class Rule:
    fn: Callable[..., Sequence[str | None]]
    # The forward values the backward may read, checked whenever the rule runs (so the training
    # graph is known to keep only these alive): "x" every input, "x<i>" input i, "y" every
    # output, "shapes" inputs and outputs only through Shape/Size; a region rule also names the
    # inner values it saved.
    saves: tuple[str, ...]
    nondiff: tuple[int, ...]  # input positions that never receive a gradient (indices, shapes...)


GRAD_RULES: Registry[Rule] = Registry("gradient rule")
# Rules for composite regions of the forward graph (like JAX's custom_vjp): a layer marks the
# nodes it emitted as one region of a kind, and the backward pass applies the kind's rule to
# the region as a whole instead of differentiating its nodes one by one.
REGION_RULES: Registry[Rule] = Registry("region rule")
REGION_OP = "nnc.region"  # op type of the stand-in node; it never appears in an emitted graph
# Ops whose outputs are piecewise constant or not real numbers (comparisons, indices, shapes):
# no gradient flows through them. One on the path from a parameter to the loss is an error
# that says so, rather than a silent zero gradient.
NON_DIFFERENTIABLE: Registry[str] = Registry("non-differentiable op")


def rule(op_type: str, saves: tuple[str, ...] = (), nondiff: tuple[int, ...] = ()):
    def add(fn):
        GRAD_RULES.add(op_type, Rule(fn, saves, nondiff))
        return fn

    return add


def region_rule(kind: str, saves: tuple[str, ...] = ()):
    """Register the rule of a region kind: fn(g, region, dys) -> one gradient per region input."""

    def add(fn):
        REGION_RULES.add(kind, Rule(fn, saves, ()))
        return fn

    return add


# Ops that read only the shapes of their inputs: no path through them carries a gradient (a
# zero state shaped like a batch that depends on the parameters, say).
SHAPE_ONLY = frozenset({"Shape", "Size"})


def non_differentiable(why: str, *op_types: str) -> None:
    for op_type in op_types:
        NON_DIFFERENTIABLE.add(op_type, why)


def _with_regions(b: GraphBuilder) -> tuple[list, dict]:
    """The builder's nodes with every marked region replaced by one stand-in node."""
    nodes: list = []
    stand_ins = {}
    regions = sorted(b.regions, key=lambda r: r.start)
    i = 0
    for r in regions:
        nodes.extend(b.nodes[i : r.start])
        name = f"{b.nodes[r.start].name.rsplit('/', 1)[0]}/{r.kind}"
        node = helper.make_node(REGION_OP, r.inputs, r.outputs, name=name)
        stand_ins[name] = r
        nodes.append(node)
        i = r.end
    nodes.extend(b.nodes[i:])
    return nodes, stand_ins


class GradContext:
    """What a rule sees: the builder, static shapes of forward values, and which inputs need a
    gradient (so that, e.g., the first layer never computes a gradient for the data)."""

    def __init__(
        self,
        b: GraphBuilder,
        shapes: dict[str, list[Dim]],
        needs: set[str],
        types: dict[str, int] | None = None,
    ):
        self.b = b
        self._shapes = shapes
        self._needs = needs
        self._types = types or {}

    def elem_type(self, name: str) -> int:
        """The ONNX element type of a forward value."""
        if name in self.b.initializers:
            return helper.np_dtype_to_tensor_dtype(self.b.initializers[name].dtype)
        try:
            return self._types[name]
        except KeyError:
            raise GradientError(f"no element type known for {name!r}") from None

    def shape(self, name: str) -> list[Dim]:
        if name in self.b.initializers:
            return list(self.b.initializers[name].shape)
        try:
            return self._shapes[name]
        except KeyError:
            raise GradientError(f"no static shape known for {name!r}") from None

    def rank(self, name: str) -> int:
        return len(self.shape(name))

    def needs(self, name: str) -> bool:
        return name in self._needs

    def const_value(self, name: str):
        return self.b.initializers.get(name)

    # -- helpers shared by many rules ----------------------------------------------------------
    def unbroadcast(self, grad: str, target: str, source: str) -> str:
        """Sum `grad` (shaped like the broadcast result `source`) back to the shape of `target`."""
        tgt, src = self.shape(target), self.shape(source)
        lead = len(src) - len(tgt)
        axes = list(range(lead))
        for i, d in enumerate(tgt):
            s = src[lead + i]
            if d == 1 and s != 1:
                axes.append(lead + i)
        if not axes:
            return grad
        b = self.b
        if len(axes) == lead:  # only leading axes: one ReduceSum that drops them
            return b.op("ReduceSum", [grad, b.ints(axes)], keepdims=0)
        out = b.op("ReduceSum", [grad, b.ints(axes)], keepdims=1)
        if lead:
            out = b.op("Squeeze", [out, b.ints(list(range(lead)))])
        return out

    def like(self, grad: str, x: str) -> str:
        """Reshape `grad` to the (runtime) shape of `x`."""
        return self.b.op("Reshape", [grad, self.b.op("Shape", [x])])


def attrs(node: onnx.NodeProto) -> dict:
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def infer_shapes(b: GraphBuilder, outputs: Sequence[str]) -> dict[str, list[Dim]]:
    """Static shapes of every value computed so far (symbolic dims as strings)."""
    return infer_types(b, outputs)[0]


def infer_types(
    b: GraphBuilder, outputs: Sequence[str]
) -> tuple[dict[str, list[Dim]], dict[str, int]]:
    """Static shapes and element types of every value computed so far."""
    model = b.model()
    del model.graph.output[:]
    for name in outputs:
        model.graph.output.append(helper.make_empty_tensor_value_info(name))
    inferred = shape_inference.infer_shapes(model, strict_mode=True)
    out: dict[str, list[Dim]] = {}
    types: dict[str, int] = {}
    for vi in (
        list(inferred.graph.value_info) + list(inferred.graph.input) + list(inferred.graph.output)
    ):
        t = vi.type.tensor_type
        if t.elem_type:
            types[vi.name] = t.elem_type
        if t.HasField("shape"):
            out[vi.name] = [
                d.dim_value if d.HasField("dim_value") else (d.dim_param or None)
                for d in t.shape.dim
            ]
    return out, types


def implicit_inputs(node: onnx.NodeProto) -> list[str]:
    """Values of enclosing graphs that the subgraphs of `node` (a Scan body...) read by name."""
    out: list[str] = []
    for a in node.attribute:
        graphs = [a.g] if a.type == onnx.AttributeProto.GRAPH else list(a.graphs)
        for graph in graphs:
            defined = {v.name for v in graph.input} | {t.name for t in graph.initializer}
            for inner in graph.node:
                for name in [*inner.input, *implicit_inputs(inner)]:
                    if name and name not in defined and name not in out:
                        out.append(name)
                defined.update(inner.output)
    return out


def inputs_of(node: onnx.NodeProto) -> list[str]:
    """A node's inputs, then the outer values its subgraphs read: what its rule differentiates."""
    if not any(
        a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS) for a in node.attribute
    ):
        return list(node.input)
    return [*node.input, *(i for i in implicit_inputs(node) if i not in node.input)]


def gradients(
    b: GraphBuilder, loss: str, wrt: Sequence[str], seed: str | None = None
) -> dict[str, str]:
    """Append the backward pass of `loss` (a scalar) to `b`; return {param: its gradient}."""
    found = vjp(b, {loss: seed or b.const(1.0)}, wrt)
    out = {}
    for p in wrt:
        g = found[p]
        if g is None:
            raise GradientError(f"the loss does not depend on parameter {p!r}")
        out[p] = g
    return out


def vjp(
    b: GraphBuilder, seeds: Mapping[str, str | list[str]], wrt: Sequence[str]
) -> dict[str, str | None]:
    """Append the vector-Jacobian product of the values `seeds` names (each with the gradient,
    or gradients to sum, flowing into it) to `b`; return {x: its gradient, or None where none
    flows}."""
    incoming = {k: [v] if isinstance(v, str) else list(v) for k, v in seeds.items()}
    nodes, regions = _with_regions(b)

    def rule_of(n):
        return (
            REGION_RULES[regions[n.name].kind]
            if n.op_type == REGION_OP
            else GRAD_RULES.get(n.op_type)
        )

    # forward reachability from the parameters, backward reachability from the seeds
    reach_fwd = set(wrt)
    for n in nodes:
        if n.op_type in SHAPE_ONLY:  # reads only the shape of its input: no gradient path
            continue
        if any(i in reach_fwd for i in inputs_of(n)):
            reach_fwd.update(o for o in n.output if o)
    reach_bwd = set(seeds)
    for n in reversed(nodes):
        if any(o in reach_bwd for o in n.output):
            r = rule_of(n)
            skip = r.nondiff if r else ()  # a Where condition or a target shape carries no gradient
            reach_bwd.update(i for k, i in enumerate(inputs_of(n)) if i and k not in skip)
    needs = reach_fwd & reach_bwd
    path = [n for n in nodes if any(o in needs for o in n.output)]
    for n in path:
        if rule_of(n) is None:
            hint = ""
            if n.op_type in ("Greater", "Cast") and "/act/" in n.name:
                hint = (
                    " (a step or sign activation is not differentiable: as the output's last "
                    "activation a perceptron or hinge loss reads through it; elsewhere use "
                    "sigmoid or tanh to train)"
                )
            why = NON_DIFFERENTIABLE.get(n.op_type)
            if why:
                hint = f"; it is not differentiable ({why}){hint}"
            raise GradientError(
                f"no gradient rule for op {n.op_type!r} (node {n.name!r}) on the path from the "
                f"parameters to the loss{hint}"
            )

    shapes, types = infer_types(b, list(seeds))
    ctx = GradContext(b, shapes, needs, types)
    forward = {i.name for i in b.inputs + b.outer} | {o for n in b.nodes for o in n.output}
    forward -= {g for gs in incoming.values() for g in gs}  # gradients, not forward values
    grads: dict[str, list[str]] = incoming

    def total(name: str) -> str | None:
        parts = grads.get(name)
        if not parts:
            return None
        if len(parts) > 1:
            parts[:] = [b.op("Sum", parts)]
        return parts[0]

    with b.scope("grad"):
        for n in reversed(path):
            dys = [total(o) if o else None for o in n.output]
            if all(d is None for d in dys):
                continue
            r = rule_of(n)
            unit = regions[n.name] if n.op_type == REGION_OP else n
            start = len(b.nodes)
            with b.scope(n.name):
                dxs = r.fn(ctx, unit, dys)
            _check_saves(b.nodes[start:], r, unit, forward)
            for i, (x, dx) in enumerate(zip(inputs_of(n), dxs)):
                if dx is None or not x or x not in needs or i in r.nondiff:
                    continue
                grads.setdefault(x, []).append(dx)
        return {x: total(x) for x in wrt}


_SHAPE_READERS = ("Shape", "Size")


def _check_saves(emitted, r: Rule, unit, forward: set[str]) -> None:
    """A rule may read only the forward values its `saves` declares (see Rule)."""
    inputs = list(unit.inputs) if hasattr(unit, "saved") else inputs_of(unit)
    outputs = list(unit.outputs if hasattr(unit, "saved") else unit.output)
    allowed: set[str] = set()
    for token in r.saves:
        if token == "x":
            allowed.update(inputs)
        elif token == "y":
            allowed.update(outputs)
        elif token.startswith("x") and token[1:].isdigit():
            allowed.add(inputs[int(token[1:])])
        elif token != "shapes":
            allowed.add(unit.saved[token])  # a region's named inner value
    by_shape = set(inputs + outputs) if "shapes" in r.saves else set()
    for node in emitted:
        for name in inputs_of(node):
            if name not in forward or name in allowed:
                continue
            if name in by_shape and node.op_type in _SHAPE_READERS:
                continue
            label = getattr(unit, "kind", None) or unit.op_type
            raise AssertionError(
                f"the gradient rule of {label} reads the forward value {name!r} (in a "
                f"{node.op_type} node) but declares saves={r.saves}"
            )
