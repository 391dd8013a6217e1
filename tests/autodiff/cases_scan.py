"""Gradient-check cases for the Scan rule (compiler/autodiff/rules_scan.py): recurrent cells as
Scan bodies that read their weights from the enclosing graph or as pass-through states (the
portable spelling), forward and reverse."""

from __future__ import annotations

import numpy as np

from autodiff.harness import Case, normal

rng = np.random.default_rng(777)
T, N, F, H = 4, 3, 2, 3


def _elman(b, n, reverse: bool, both_outputs: bool):
    body = b.child("cell")
    h = body.add_input(body.fresh("h"), [N, H])
    xt = body.add_input(body.fresh("x"), [N, F])
    body.refer(n["W"], [F, H])
    body.refer(n["U"], [H, H])
    z = body.op("Add", [body.op("MatMul", [xt, n["W"]]), body.op("MatMul", [h, n["U"]])])
    hn = body.op("Tanh", [z])
    y = body.op("Identity", [hn])
    body.add_output(hn, [N, H])
    body.add_output(y, [N, H])
    d = [1] if reverse else None
    h_last, ys = b.op(
        "Scan",
        [n["h0"], n["x"]],
        outputs=2,
        body=body.graph(),
        num_scan_inputs=1,
        scan_input_directions=d,
        scan_output_directions=d,
    )
    if not both_outputs:
        return h_last
    return b.op("Add", [b.op("ReduceSum", [ys, b.ints([0])], keepdims=0), h_last])


def _lstm_like(b, n):
    """Two states (h, c) and two scan inputs; a gate product, like an LSTM cell."""
    body = b.child("cell")
    h = body.add_input(body.fresh("h"), [N, H])
    c = body.add_input(body.fresh("c"), [N, H])
    xt = body.add_input(body.fresh("x"), [N, F])
    mt = body.add_input(body.fresh("m"), [N, H])
    body.refer(n["W"], [F, H])
    body.refer(n["U"], [H, H])
    z = body.op("Add", [body.op("MatMul", [xt, n["W"]]), body.op("MatMul", [h, n["U"]])])
    gate = body.op("Sigmoid", [body.op("Add", [z, mt])])
    cn = body.op("Add", [body.op("Mul", [gate, c]), body.op("Tanh", [z])])
    hn = body.op("Mul", [body.op("Tanh", [cn]), gate])
    y = body.op("Identity", [hn])
    for v in (hn, cn, y):
        body.add_output(v, [N, H])
    h_last, c_last, ys = b.op(
        "Scan", [n["h0"], n["c0"], n["x"], n["m"]], outputs=3, body=body.graph(), num_scan_inputs=2
    )
    return b.op("Add", [b.op("Mul", [ys, ys]), b.op("Add", [h_last, c_last])])


def _elman_passing_weights(b, n, use_final_weight: bool):
    """The weights enter as states the body passes on unchanged, the batch dimension unnamed."""
    body = b.child("cell")
    h = body.add_input(body.fresh("h"), [None, H])
    w = body.add_input(body.fresh("w"), [F, H])
    u = body.add_input(body.fresh("u"), [H, H])
    xt = body.add_input(body.fresh("x"), [None, F])
    z = body.op("Add", [body.op("MatMul", [xt, w]), body.op("MatMul", [h, u])])
    hn = body.op("Tanh", [z])
    for v, shape in ((hn, [None, H]), (body.op("Identity", [w]), [F, H])):
        body.add_output(v, shape)
    body.add_output(body.op("Identity", [u]), [H, H])
    body.add_output(body.op("Identity", [hn]), [None, H])
    h_last, w_last, _, ys = b.op(
        "Scan", [n["h0"], n["W"], n["U"], n["x"]], outputs=4, body=body.graph(), num_scan_inputs=1
    )
    out = b.op("Add", [b.op("ReduceSum", [ys, b.ints([0])], keepdims=0), h_last])
    if use_final_weight:  # a gradient also reaches the pass-through output
        return b.op("Add", [b.op("ReduceSum", [out], keepdims=0), b.op("ReduceSum", [w_last])])
    return out


def _inputs(**extra):
    return {
        "x": normal(rng, T, N, F),
        "h0": normal(rng, N, H) * 0.5,
        "W": normal(rng, F, H),
        "U": normal(rng, H, H) * 0.5,
        **extra,
    }


CASES: dict[str, list[Case]] = {
    "Scan": [
        Case(
            "elman_last_state",
            lambda b, n: _elman(b, n, False, False),
            _inputs(),
            ("x", "h0", "W", "U"),
        ),
        Case(
            "elman_sequence_and_state",
            lambda b, n: _elman(b, n, False, True),
            _inputs(),
            ("x", "h0", "W", "U"),
        ),
        Case(
            "elman_reverse",
            lambda b, n: _elman(b, n, True, True),
            _inputs(),
            ("x", "W", "U"),
        ),
        Case(
            "two_states_two_inputs",
            _lstm_like,
            _inputs(c0=normal(rng, N, H), m=normal(rng, T, N, H)),
            ("x", "h0", "c0", "m", "W", "U"),
        ),
        Case(
            "weights_as_pass_through_states",
            lambda b, n: _elman_passing_weights(b, n, False),
            _inputs(),
            ("x", "h0", "W", "U"),
        ),
        Case(
            "pass_through_state_also_used_after",
            lambda b, n: _elman_passing_weights(b, n, True),
            _inputs(),
            ("x", "h0", "W", "U"),
        ),
    ]
}
