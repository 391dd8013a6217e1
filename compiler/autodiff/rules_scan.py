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
outputs), so the graph does not grow with the number of steps. Forward values the backward
body reads (gate activations) are taped the same way instead of recomputed, and the recomputing
nodes nothing reads any more are dropped. A weight read only as MatMul(A_t, W) gets its gradient
after the backward Scan as one product of the stacked A_t and dz_t (sum_t A_t^T dz_t) rather
than a small product and a sum per step.

Loop-invariant values (weights) reach a body either by name from the enclosing graph or as a
state the body passes through unchanged (`Identity`). The second is the portable spelling:
OpenVINO's Scan takes no outer-scope values but constants. Such a state is not taped; like an
outer weight it is an accumulated gradient. The backward Scan itself reads every non-constant
value it needs as a pass-through state, and its bodies declare the batch dimension unnamed
(tract cannot unify a body's symbolic `N` with the outer graph's).
"""

from __future__ import annotations

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
    """A value's static dimensions; symbolic ones unnamed (None) for use inside a body."""
    t = vi.type.tensor_type
    return [d.dim_value if d.HasField("dim_value") else None for d in t.shape.dim]


def _unnamed(shape) -> list:
    return [d if isinstance(d, int) else None for d in shape]


def passes_through(body: GraphProto, i: int) -> bool:
    """Whether state i of a Scan body leaves the body unchanged (a loop-invariant value)."""
    name, out = body.input[i].name, body.output[i].name
    return name == out or any(
        n.op_type == "Identity" and list(n.input) == [name] and list(n.output) == [out]
        for n in body.node
    )


def _set_attr(node, name: str, value) -> None:
    for a in node.attribute:
        if a.name == name:
            node.attribute.remove(a)
            break
    node.attribute.append(helper.make_attribute(name, value))


def _record_tape(b: GraphBuilder, node, body: GraphProto, taped: list[int]) -> list[str]:
    """Make the forward Scan also output the input states `taped` at every step; -> their
    names."""
    tape = []
    new_body = GraphProto()
    new_body.CopyFrom(body)
    n_state = len(body.input) - int(attrs(node)["num_scan_inputs"])
    for k in taped:
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
            _set_attr(node, key, list(at[key]) + [0] * len(taped))
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
    """The (A, z) of every z = MatMul(A, w) when those are the only reads of w in the body:
    w's gradient is then one product over all steps, sum_t A_t^T dz_t."""
    uses = []
    for n in body.node:
        if w not in n.input:
            continue
        if n.op_type != "MatMul" or list(n.input).index(w) != 1 or n.input[0] == w:
            return None
        uses.append((n.input[0], n.output[0]))
    return uses or None


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
    # states the body changes (taped, differentiated step by step), and loop-invariant ones
    varying = [i for i in range(n_state) if not passes_through(body, i)]
    fixed = [i for i in range(n_state) if i not in varying]
    outer = [i for i in implicit_inputs(node) if i not in node.input]
    # the values every step reads unchanged: fixed states, then outer non-constants
    weights = [states[i] for i in fixed] + [w for w in outer if w not in b.initializers]
    weights_inner = [body.input[i].name for i in fixed] + weights[len(fixed) :]
    wanted = [j for j, w in enumerate(weights) if g.needs(w)]
    # matrices read only through MatMul(A_t, W): one product after the backward Scan
    products_of: dict[int, list[tuple[str, str]]] = {}
    for j in wanted:
        uses = _hoistable(body, weights_inner[j]) if g.rank(weights[j]) == 2 else None
        if uses:
            products_of[j] = uses
    accumulated = [j for j in wanted if j not in products_of]
    xs_wanted = [m for m, x in enumerate(xs) if g.needs(x)]
    ys_seeded = [o for o in range(n_scan_out) if dys[n_state + o] is not None]
    tape = _record_tape(b, node, body, varying)

    # -- the backward body ---------------------------------------------------------------------
    sub = b.child(f"{node.name}/backward")
    renamed: dict[str, str] = {}
    d_carry = [sub.add_input(sub.fresh("d_state"), _dims(body.output[i])) for i in varying]
    acc = [sub.add_input(sub.fresh("acc"), _unnamed(g.shape(weights[j]))) for j in accumulated]
    held = []
    for w, inner in zip(weights, weights_inner):
        held.append(sub.add_input(sub.fresh("weight"), _unnamed(g.shape(w))))
        renamed[inner] = held[-1]
    for i in varying:
        renamed[body.input[i].name] = sub.add_input(sub.fresh("state_t"), _dims(body.input[i]))
    for m in range(k):
        vi = body.input[n_state + m]
        renamed[vi.name] = sub.add_input(sub.fresh("x_t"), _dims(vi))
    dy_t = [sub.add_input(sub.fresh("dy_t"), _dims(body.output[n_state + o])) for o in ys_seeded]
    start = len(sub.nodes)
    _recompute(sub, body, renamed)
    body_inputs = {i.name for i in body.input}
    recomputed = {v: f for f, v in renamed.items() if f not in body_inputs and f not in weights}
    n_recompute = len(sub.nodes) - start
    known_shapes, known_types = infer_types(sub, [renamed[o.name] for o in body.output])
    seeds: dict[str, list[str]] = {}
    for i, d in zip(varying, d_carry):
        seeds.setdefault(renamed[body.output[i].name], []).append(d)
    for o, d in zip(ys_seeded, dy_t):
        seeds.setdefault(renamed[body.output[n_state + o].name], []).append(d)
    products = [(renamed[a], renamed[z], j) for j, uses in products_of.items() for a, z in uses]
    wrt = [renamed[body.input[i].name] for i in varying]
    wrt += [held[j] for j in accumulated]
    wrt += [renamed[body.input[n_state + m].name] for m in xs_wanted]
    found = vjp(sub, seeds, wrt + [z for _, z, _ in products])

    def grad_or_zeros(name: str) -> str:
        got = found[name]
        return got if got is not None else _zeros_like(sub, name)

    n_var, n_acc = len(varying), len(accumulated)
    carried: list[tuple[str, list | None]] = [
        (grad_or_zeros(w), _dims(body.input[i])) for w, i in zip(wrt, varying)
    ]
    carried += [
        (sub.op("Add", [a, grad_or_zeros(held[j])]), _unnamed(g.shape(weights[j])))
        for a, j in zip(acc, accumulated)
    ]
    carried += [(h, _unnamed(g.shape(w))) for h, w in zip(held, weights)]  # passed through
    scanned_out: list[tuple[str, list | None]] = [
        (grad_or_zeros(w), _dims(body.input[n_state + m]))
        for w, m in zip(wrt[n_var + n_acc :], xs_wanted)
    ]
    for a, z, _ in products:  # A_t and dz_t, both in the backward Scan's order
        scanned_out += [(a, _unnamed(known_shapes.get(a) or [])), (grad_or_zeros(z), None)]
    # forward values the backward reads come from a tape, not a recomputation
    taped = _tape_reads(sub, start + n_recompute, recomputed, node, b, known_shapes, known_types)
    _prune(sub, start, start + n_recompute, [name for name, _ in carried + scanned_out])
    # a value the body computes is its own output; a copy where a name would repeat or is an
    # input passed through
    inputs, seen = {i.name for i in sub.inputs}, set()
    for name, shape in carried + scanned_out:
        if shape is None:
            shape = _unnamed(known_shapes.get(name) or []) or None
        if name in inputs or name in seen or name in sub.initializers:
            copy = sub.fresh("out")
            sub.op("Identity", [name], [copy])
            name = copy
        seen.add(name)
        sub.add_output(name, shape)

    # -- the reverse Scan ----------------------------------------------------------------------
    d_final = [dys[i] if dys[i] is not None else _zeros_like(b, node.output[i]) for i in varying]
    acc0 = [_zeros_like(b, weights[j]) for j in accumulated]

    # The backward Scan visits the steps last to first: each sequence read in the forward's
    # order is reversed first (a Slice; reverse scan directions are not portable)
    def backwards(seq: str, forward_direction: int) -> str:
        return b.reverse(seq) if forward_direction == 0 else seq

    scanned = [backwards(t, 0) for t in tape]
    scanned += [backwards(x, d) for x, d in zip(xs, in_dirs)]
    scanned += [backwards(dys[n_state + o], out_dirs[o]) for o in ys_seeded]
    scanned += [backwards(t, 0) for t in taped]
    n_carry = n_var + n_acc + len(weights)
    results = b.op(
        "Scan",
        [*d_final, *acc0, *weights, *scanned],
        outputs=n_carry + len(scanned_out),
        body=sub.graph(),
        num_scan_inputs=len(scanned),
    )
    results = [results] if isinstance(results, str) else results
    grads: dict[str, str] = {}
    for i, r in zip(varying, results):
        grads[f"s{i}"] = r
    for j, r in zip(accumulated, results[n_var:]):
        grads[f"w{j}"] = r
    pos = n_carry
    for m in xs_wanted:
        grads[f"x{m}"] = backwards(results[pos], in_dirs[m])
        pos += 1
    for _, _, j in products:
        a_seq, dz_seq = results[pos], results[pos + 1]
        pos += 2
        rows, cols = (int(d) for d in g.shape(weights[j]))  # type: ignore[arg-type]
        part = b.op(
            "Gemm",
            [
                b.op("Reshape", [a_seq, b.ints([-1, rows])]),
                b.op("Reshape", [dz_seq, b.ints([-1, cols])]),
            ],
            transA=1,
        )
        key = f"w{j}"
        grads[key] = b.op("Add", [grads[key], part]) if key in grads else part
    for j, i in enumerate(fixed):  # a pass-through state's gradient: the steps' sum, plus the
        summed, at_end = grads.get(f"w{j}"), dys[i]  # gradient reaching its final value
        both = summed and at_end and b.op("Add", [summed, at_end])
        grads[f"s{i}"] = both or summed or at_end
    index = {w: j for j, w in enumerate(weights) if j >= len(fixed)}
    return (
        [grads.get(f"s{i}") if g.needs(s) else None for i, s in enumerate(states)]
        + [grads.get(f"x{m}") for m in range(k)]
        + [grads.get(f"w{index[w]}") if w in index else None for w in outer]
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
        dims = _unnamed(shapes[value])
        # a copy scans out (tract mis-infers a body value that is both read inside and an output)
        inner = b.fresh("saved_step")
        new_body.node.append(helper.make_node("Identity", [forward], [inner], name=inner))
        new_body.output.append(helper.make_tensor_value_info(inner, types[value], dims))
        outer = b.fresh("saved")
        node.output.append(outer)
        taped.append(outer)
        replace[value] = sub.add_input(
            sub.fresh("saved_t"), dims, helper.tensor_dtype_to_np_dtype(types[value])
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
