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
    xs_wanted = [m for m, x in enumerate(xs) if g.needs(x)]
    ys_seeded = [o for o in range(n_scan_out) if dys[n_state + o] is not None]
    tape = _record_tape(b, node, body, varying)

    # -- the backward body ---------------------------------------------------------------------
    sub = b.child(f"{node.name}/backward")
    renamed: dict[str, str] = {}
    d_carry = [sub.add_input(sub.fresh("d_state"), _dims(body.output[i])) for i in varying]
    acc = [sub.add_input(sub.fresh("acc"), _unnamed(g.shape(weights[j]))) for j in wanted]
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
    _recompute(sub, body, renamed)
    seeds: dict[str, list[str]] = {}
    for i, d in zip(varying, d_carry):
        seeds.setdefault(renamed[body.output[i].name], []).append(d)
    for o, d in zip(ys_seeded, dy_t):
        seeds.setdefault(renamed[body.output[n_state + o].name], []).append(d)
    wrt = [renamed[body.input[i].name] for i in varying]
    wrt += [held[j] for j in wanted]
    wrt += [renamed[body.input[n_state + m].name] for m in xs_wanted]
    found = vjp(sub, seeds, wrt)

    def grad_or_zeros(name: str) -> str:
        got = found[name]
        return got if got is not None else _zeros_like(sub, name)

    n_var = len(varying)
    outs = [(grad_or_zeros(w), _dims(body.input[i])) for w, i in zip(wrt, varying)]
    outs += [
        (sub.op("Add", [a, grad_or_zeros(held[j])]), _unnamed(g.shape(weights[j])))
        for a, j in zip(acc, wanted)
    ]
    outs += [(sub.op("Identity", [h]), _unnamed(g.shape(w))) for h, w in zip(held, weights)]
    outs += [
        (grad_or_zeros(w), _dims(body.input[n_state + m]))
        for w, m in zip(wrt[n_var + len(wanted) :], xs_wanted)
    ]
    for name, shape in outs:
        named = sub.fresh("out")
        sub.op("Identity", [name], [named])
        sub.add_output(named, shape)

    # -- the reverse Scan ----------------------------------------------------------------------
    d_final = [dys[i] if dys[i] is not None else _zeros_like(b, node.output[i]) for i in varying]
    acc0 = [_zeros_like(b, weights[j]) for j in wanted]

    # The backward Scan visits the steps last to first: each sequence read in the forward's
    # order is reversed first (a Slice; reverse scan directions are not portable)
    def backwards(seq: str, forward_direction: int) -> str:
        return b.reverse(seq) if forward_direction == 0 else seq

    scanned = [backwards(t, 0) for t in tape]
    scanned += [backwards(x, d) for x, d in zip(xs, in_dirs)]
    scanned += [backwards(dys[n_state + o], out_dirs[o]) for o in ys_seeded]
    n_carry = n_var + len(wanted) + len(weights)
    results = b.op(
        "Scan",
        [*d_final, *acc0, *weights, *scanned],
        outputs=n_carry + len(xs_wanted),
        body=sub.graph(),
        num_scan_inputs=len(scanned),
    )
    results = [results] if isinstance(results, str) else results
    grads: dict[str, str] = {}
    for i, r in zip(varying, results):
        grads[f"s{i}"] = r
    for j, r in zip(wanted, results[n_var:]):
        grads[f"w{j}"] = r
    for j, i in enumerate(fixed):  # a pass-through state's gradient: the steps' sum, plus the
        summed, at_end = grads.get(f"w{j}"), dys[i]  # gradient reaching its final value
        both = summed and at_end and b.op("Add", [summed, at_end])
        grads[f"s{i}"] = both or summed or at_end
    for m, dx in zip(xs_wanted, results[n_carry:]):
        grads[f"x{m}"] = backwards(dx, in_dirs[m])
    index = {w: j for j, w in enumerate(weights) if j >= len(fixed)}
    return (
        [grads.get(f"s{i}") if g.needs(s) else None for i, s in enumerate(states)]
        + [grads.get(f"x{m}") for m in range(k)]
        + [grads.get(f"w{index[w]}") if w in index else None for w in outer]
    )
