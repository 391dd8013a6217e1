"""The gradient rule of Scan: backpropagation through time as a second, reverse Scan.

A forward Scan runs its body once per step: states s and the step's scan inputs x_t in, the next
states s' and the step's scan outputs y_t out; the body may also read values of the enclosing
graph (weights) by name. Its gradient is a Scan over the same steps in reverse order, whose body
is the forward body recomputed from a tape and then differentiated with the same rule table:

    carried:     ds (gradient reaching s' of this step), acc_w (gradient of each outer weight)
    scan inputs: s_t (the tape: the forward states at the step's input), x_t, dy_t
    body:        recompute (s', y_t) = f(s_t, x_t; w); vjp with seeds ds -> s', dy_t -> y_t
    carried out: ds_t (the gradient of the step's input states), acc_w + dw_t
    scan out:    dx_t

The tape is recorded by the forward Scan itself (its body emits its input states as extra scan
outputs), so the graph does not grow with the number of steps.
"""

from __future__ import annotations

import onnx
from onnx import GraphProto, helper

from nnc.compiler.autodiff.core import (
    GradContext,
    GradientError,
    attrs,
    implicit_inputs,
    infer_types,
    rule,
    vjp,
)
from nnc.compiler.builder import GraphBuilder


def _dims(vi) -> list:
    t = vi.type.tensor_type
    return [d.dim_value if d.HasField("dim_value") else (d.dim_param or None) for d in t.shape.dim]


def _set_attr(node, name: str, value) -> None:
    for a in node.attribute:
        if a.name == name:
            node.attribute.remove(a)
            break
    node.attribute.append(helper.make_attribute(name, value))


def _record_tape(b: GraphBuilder, node, body: GraphProto, n_state: int) -> list[str]:
    """Make the forward Scan also output its input states at every step; -> their names."""
    tape = []
    new_body = GraphProto()
    new_body.CopyFrom(body)
    for k in range(n_state):
        state = body.input[k]
        inner = b.fresh("tape_step")
        new_body.node.append(helper.make_node("Identity", [state.name], [inner], name=inner))
        vi = new_body.output.add()
        vi.CopyFrom(state)
        vi.name = inner
        outer = b.fresh("tape")
        node.output.append(outer)
        tape.append(outer)
    _set_attr(node, "body", new_body)
    at = attrs(node)
    n_scan_out = len(new_body.output) - n_state
    for key in ("scan_output_directions", "scan_output_axes"):
        if key in at:
            _set_attr(node, key, list(at[key]) + [0] * n_state)
    assert len(node.output) == n_state + n_scan_out
    return tape


def _recompute(sub: GraphBuilder, body: GraphProto, renamed: dict[str, str]) -> None:
    """Copy the forward body's nodes into `sub`, every value it defines under a fresh name."""
    for inner in body.node:
        outs = []
        for o in inner.output:
            if o:
                renamed[o] = sub.fresh(o.rsplit("/", 1)[-1])
            outs.append(renamed.get(o, ""))
        copy = helper.make_node(
            inner.op_type,
            [renamed.get(i, i) for i in inner.input],
            outs,
            name=sub.fresh(inner.op_type),
            domain=inner.domain,
        )
        copy.attribute.extend(inner.attribute)
        sub.nodes.append(copy)


def _zeros_like(b: GraphBuilder, x: str) -> str:
    value = helper.make_tensor("value", helper.np_dtype_to_tensor_dtype(b.dtype), [1], [0.0])
    return b.op("ConstantOfShape", [b.op("Shape", [x])], value=value)


def _hoistable(body: GraphProto, w: str) -> list[tuple[str, str]] | None:
    """The (A, z) of every z = MatMul(A, w) when those are the only reads of the outer value w
    and A is a matrix: w's gradient is then one product over all steps, sum_t A_t^T dz_t."""
    uses = []
    for n in body.node:
        if w not in n.input:
            continue
        if n.op_type != "MatMul" or list(n.input).index(w) != 1 or n.input[0] == w:
            return None
        uses.append((n.input[0], n.output[0]))
    return uses or None


def _rank(body: GraphProto, name: str, g: GradContext) -> int | None:
    for vi in [*body.input, *body.value_info, *body.output]:
        if vi.name == name and vi.type.tensor_type.HasField("shape"):
            return len(vi.type.tensor_type.shape.dim)
    return None


@rule("Scan", saves=("x", "y"))
def _scan(g: GradContext, node, dys):
    b = g.b
    at = attrs(node)
    body: GraphProto = at["body"]
    if body.initializer:
        raise GradientError("Scan gradient with initializers inside the body")
    k = int(at["num_scan_inputs"])
    n_state = len(body.input) - k
    n_scan_out = len(body.output) - n_state
    for key in ("scan_input_axes", "scan_output_axes"):
        if any(at.get(key) or []):
            raise GradientError(f"Scan gradient with {key} other than 0 (transpose to time-major)")
    in_dirs = list(at.get("scan_input_directions") or [0] * k)
    out_dirs = list(at.get("scan_output_directions") or [0] * n_scan_out)
    states, xs = list(node.input[:n_state]), list(node.input[n_state:])
    outer = [i for i in implicit_inputs(node) if i not in node.input]
    outer_wanted = [w for w in outer if g.needs(w)]
    xs_wanted = [m for m, x in enumerate(xs) if g.needs(x)]
    ys_seeded = [o for o in range(n_scan_out) if dys[n_state + o] is not None]
    # outer matrices read only through MatMul(A_t, w): their gradient is one product after the
    # backward Scan instead of a small product and a sum per step
    hoisted: dict[str, list[tuple[str, str]]] = {}
    for w in outer_wanted:
        uses = _hoistable(body, w) if g.rank(w) == 2 else None
        if uses:
            hoisted[w] = uses
    accumulated = [w for w in outer_wanted if w not in hoisted]
    tape = _record_tape(b, node, body, n_state)

    # -- the backward body ---------------------------------------------------------------------
    sub = b.child(f"{node.name}/backward")
    for w in outer:
        if w not in b.initializers:  # constants are initializers every subgraph sees
            sub.refer(w, g.shape(w), helper.tensor_dtype_to_np_dtype(g.elem_type(w)))
    renamed: dict[str, str] = {}
    d_carry = [sub.add_input(sub.fresh("d_state"), _dims(body.output[i])) for i in range(n_state)]
    acc = [sub.add_input(sub.fresh("acc"), g.shape(w)) for w in accumulated]
    for i in range(n_state):
        renamed[body.input[i].name] = sub.add_input(sub.fresh("state_t"), _dims(body.input[i]))
    for m in range(k):
        vi = body.input[n_state + m]
        renamed[vi.name] = sub.add_input(sub.fresh("x_t"), _dims(vi))
    dy_t = [sub.add_input(sub.fresh("dy_t"), _dims(body.output[n_state + o])) for o in ys_seeded]
    start = len(sub.nodes)
    _recompute(sub, body, renamed)
    recomputed = {v: f for f, v in renamed.items() if f not in {i.name for i in body.input}}
    n_recompute = len(sub.nodes) - start
    outputs = [renamed[o.name] for o in body.output]
    known_shapes, known_types = infer_types(sub, outputs)
    seeds: dict[str, list[str]] = {}
    for i in range(n_state):
        seeds.setdefault(renamed[body.output[i].name], []).append(d_carry[i])
    for o, d in zip(ys_seeded, dy_t):
        seeds.setdefault(renamed[body.output[n_state + o].name], []).append(d)
    products = [(renamed[a], renamed[z], w) for w, uses in hoisted.items() for a, z in uses]
    wrt = [renamed[body.input[i].name] for i in range(n_state)]
    wrt += [renamed[body.input[n_state + m].name] for m in xs_wanted] + accumulated
    found = vjp(sub, seeds, wrt + [z for _, z, _ in products])

    def grad_or_zeros(name: str) -> str:
        got = found[name]
        return got if got is not None else _zeros_like(sub, name)

    carried_out = [grad_or_zeros(w) for w in wrt[:n_state]]
    carried_out += [sub.op("Add", [a, grad_or_zeros(w)]) for a, w in zip(acc, accumulated)]
    scan_out = [grad_or_zeros(w) for w in wrt[n_state : n_state + len(xs_wanted)]]
    for a, z, _ in products:  # A_t and dz_t, in the backward Scan's order (aligned)
        scan_out += [a, grad_or_zeros(z)]
    # forward values the backward reads are taped by the forward Scan rather than recomputed
    taped = _tape_reads(sub, start + n_recompute, recomputed, node, b, known_shapes, known_types)
    _prune(sub, start, start + n_recompute, [*carried_out, *scan_out])
    shapes: list = [_dims(body.input[i]) for i in range(n_state)]
    shapes += [g.shape(w) for w in accumulated]
    shapes += [_dims(body.input[n_state + m]) for m in xs_wanted]
    for a, z, _ in products:
        shapes += [known_shapes.get(a), known_shapes.get(z)]
    _hoist_invariants(sub, b)
    # a value the body computes is its own output; a copy only where one would be ambiguous (an
    # input passed through, or a value given twice)
    body_inputs, seen = {i.name for i in sub.inputs}, set()
    for name, shape in zip([*carried_out, *scan_out], shapes):
        if name in body_inputs or name in seen or name in sub.initializers:
            copy = sub.fresh("out")
            sub.op("Identity", [name], [copy])
            name = copy
        seen.add(name)
        sub.add_output(name, shape)

    # -- the reverse Scan ----------------------------------------------------------------------
    d_final = [
        dys[i] if dys[i] is not None else _zeros_like(b, node.output[i]) for i in range(n_state)
    ]
    acc0 = [_zeros_like(b, w) for w in accumulated]

    # The backward Scan visits the steps last to first: each sequence read in the forward's
    # order is reversed first (a Slice; reverse scan directions are not portable)
    def backwards(seq: str, forward_direction: int) -> str:
        return b.reverse(seq) if forward_direction == 0 else seq

    scanned = [backwards(t, 0) for t in tape]
    scanned += [backwards(x, d) for x, d in zip(xs, in_dirs)]
    scanned += [backwards(dys[n_state + o], out_dirs[o]) for o in ys_seeded]
    scanned += [backwards(t, 0) for t in taped]
    n_carry = n_state + len(accumulated)
    results = b.op(
        "Scan",
        [*d_final, *acc0, *scanned],
        outputs=n_carry + len(scan_out),
        body=sub.graph(),
        num_scan_inputs=len(scanned),
    )
    results = [results] if isinstance(results, str) else results
    grads: dict[str, str] = {}
    for i in range(n_state):
        grads[f"s{i}"] = results[i]
    for j, w in enumerate(accumulated):
        grads[w] = results[n_state + j]
    for j, m in enumerate(xs_wanted):
        grads[f"x{m}"] = backwards(results[n_carry + j], in_dirs[m])
    at_products = n_carry + len(xs_wanted)
    for j, (_, _, w) in enumerate(products):
        a_seq, dz_seq = results[at_products + 2 * j], results[at_products + 2 * j + 1]
        rows, cols = (int(d) for d in g.shape(w))  # type: ignore[arg-type]  # a static matrix
        part = b.op(
            "Gemm",
            [
                b.op("Reshape", [a_seq, b.ints([-1, rows])]),
                b.op("Reshape", [dz_seq, b.ints([-1, cols])]),
            ],
            transA=1,
        )
        grads[w] = b.op("Add", [grads[w], part]) if w in grads else part
    return (
        [grads[f"s{i}"] if g.needs(s) else None for i, s in enumerate(states)]
        + [grads.get(f"x{m}") for m in range(k)]
        + [grads.get(w) for w in outer]
    )


def _tape_reads(sub, first_grad_node, recomputed, node, b, shapes, types) -> list[str]:
    """Backward nodes that read a recomputed forward value read it from a tape instead: the
    forward Scan outputs the value at every step, the backward Scan scans it in. -> the taped
    sequences (outer names), in the order of the backward body's new scan inputs."""
    reads: list[str] = []
    for n in sub.nodes[first_grad_node:]:
        for i in n.input:
            if i in recomputed and i not in reads:
                reads.append(i)
    if not reads:
        return []
    new_body = GraphProto()
    new_body.CopyFrom(next(a.g for a in node.attribute if a.name == "body"))
    taped, replace = [], {}
    for value in reads:
        forward = recomputed[value]
        if value not in types or value not in shapes:  # not inferred: keep recomputing it
            continue
        inner = forward
        if forward in {o.name for o in new_body.output}:  # given already: a copy to scan out
            inner = b.fresh("saved_step")
            new_body.node.append(helper.make_node("Identity", [forward], [inner], name=inner))
        new_body.output.append(helper.make_tensor_value_info(inner, types[value], shapes[value]))
        outer = b.fresh("saved")
        node.output.append(outer)
        taped.append(outer)
        replace[value] = sub.add_input(
            sub.fresh("saved_t"), shapes[value], helper.tensor_dtype_to_np_dtype(types[value])
        )
    _set_attr(node, "body", new_body)
    at = attrs(node)
    for key in ("scan_output_directions", "scan_output_axes"):
        if key in at:
            _set_attr(node, key, list(at[key]) + [0] * len(taped))
    for n in sub.nodes[first_grad_node:]:
        for i, name in enumerate(n.input):
            if name in replace:
                n.input[i] = replace[name]
    return taped


def _hoist_invariants(sub, b) -> None:
    """Nodes of the backward body that read only outer values and constants (the transpose of
    a weight, say) compute the same at every step: they move out, before the Scan."""
    step_values = {i.name for i in sub.inputs}
    moved = []
    for n in list(sub.nodes):
        if any(
            a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS) for a in n.attribute
        ):
            step_values.update(n.output)
            continue
        if any(i in step_values for i in n.input if i):
            step_values.update(n.output)
            continue
        moved.append(n)
    for n in moved:
        sub.nodes.remove(n)
        b.nodes.append(n)


def _prune(sub, start: int, end: int, keep: list[str]) -> None:
    """Drop the recomputing nodes [start, end) that nothing reads any more."""
    while True:
        read = set(keep)
        for n in sub.nodes:
            read.update(n.input)
        dead = [
            n for n in sub.nodes[start:end] if n.output and not any(o in read for o in n.output)
        ]
        if not dead:
            return
        for n in dead:
            sub.nodes.remove(n)
        end -= len(dead)
