"""Subgraphs (graph attributes) in the interpreter, and the kernels that run them: Scan, Loop, If.

The machinery (outer-scope reads, checks up front, errors, observer, pruning) is tested on
small hand-built graphs; the kernels against NumPy and against ONNX Runtime (CPU, graph
optimizations off), in float32 and float64.
"""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from nnc.runtime.interpreter import Interpreter, InterpreterError, UnsupportedOpError
from nnc.runtime.interpreter import interpreter as interpreter_module

F32, F64 = np.dtype(np.float32), np.dtype(np.float64)
TOLERANCE = {F32: dict(rtol=1e-5, atol=1e-6), F64: dict(rtol=1e-12, atol=1e-14)}


def vi(name, dtype=F32, shape=None):
    return helper.make_tensor_value_info(
        name, helper.np_dtype_to_tensor_dtype(np.dtype(dtype)), shape
    )


def make_model(nodes, inputs, outputs, initializers=(), opset=18):
    graph = helper.make_graph(nodes, "g", inputs, outputs, initializer=list(initializers))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=8)


def run_both(model, feeds):
    ours = Interpreter(model).run(None, feeds)
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(
        model.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )
    return ours, session.run(None, feeds)


def assert_same(ours, theirs):
    assert len(ours) == len(theirs)
    for i, (a, b) in enumerate(zip(ours, theirs, strict=True)):
        assert a.dtype == b.dtype, f"output {i}: dtype {a.dtype}, ORT {b.dtype}"
        assert a.shape == b.shape, f"output {i}: shape {a.shape}, ORT {b.shape}"
        if a.dtype.kind == "f":
            np.testing.assert_allclose(a, b, err_msg=f"output {i}", **TOLERANCE[a.dtype])
        else:
            np.testing.assert_array_equal(a, b, err_msg=f"output {i}")


def _branch(name, nodes, outputs):
    return helper.make_graph(nodes, name, [], outputs)


def _if_model():
    """y = If(c) then (x + w) * s else x - w; w is computed in the outer graph (a value the
    branches read by name), s is an outer initializer."""
    then_branch = _branch(
        "then",
        [
            helper.make_node("Add", ["x", "w"], ["t0"], name="add"),
            helper.make_node("Mul", ["t0", "s"], ["t1"], name="scale"),
        ],
        [vi("t1")],
    )
    else_branch = _branch("else", [helper.make_node("Sub", ["x", "w"], ["e0"])], [vi("e0")])
    nodes = [
        helper.make_node("Neg", ["v"], ["w"], name="neg"),
        helper.make_node(
            "If", ["c"], ["y"], name="choose", then_branch=then_branch, else_branch=else_branch
        ),
    ]
    s = numpy_helper.from_array(np.array(3.0, np.float32), "s")
    inputs = [vi("c", np.bool_, []), vi("x", F32, [2]), vi("v", F32, [2])]
    return make_model(nodes, inputs, [vi("y", F32, [2])], [s])


def test_if_reads_outer_values_and_initializers():
    interpreter = Interpreter(_if_model())
    x, v = np.array([1.0, 2.0], np.float32), np.array([0.5, -1.0], np.float32)
    (y,) = interpreter.run(None, {"c": np.array(True), "x": x, "v": v})
    np.testing.assert_allclose(y, (x - v) * 3)
    (y,) = interpreter.run(None, {"c": np.array(False), "x": x, "v": v})
    np.testing.assert_allclose(y, x + v)
    for c in (True, False):
        assert_same(*run_both(_if_model(), {"c": np.array(c), "x": x, "v": v}))


def test_a_value_only_a_subgraph_reads_is_computed_and_kept():
    """Pruning and freeing see the outer values a subgraph reads: the Neg that makes `w` runs
    when only `y` is asked for, and `w` is not freed before the If runs."""
    seen = []
    feeds = {"c": np.array(True), "x": np.ones(2, np.float32), "v": np.ones(2, np.float32)}
    (y,) = Interpreter(_if_model()).run(["y"], feeds, observer=lambda n, v: seen.append(n.name))
    np.testing.assert_allclose(y, [0.0, 0.0])
    # The observer sees the outer nodes only: the If once, not the nodes of its branch.
    assert seen == ["neg", "choose"]


def test_branch_output_may_be_an_outer_value():
    then_branch = _branch("then", [], [vi("x")])
    else_branch = _branch("else", [helper.make_node("Neg", ["x"], ["n"])], [vi("n")])
    node = helper.make_node("If", ["c"], ["y"], then_branch=then_branch, else_branch=else_branch)
    model = make_model([node], [vi("c", np.bool_, []), vi("x", F32, [2])], [vi("y", F32, [2])])
    x = np.array([1.0, -2.0], np.float32)
    (y,) = Interpreter(model).run(None, {"c": np.array(True), "x": x})
    np.testing.assert_array_equal(y, x)
    y[0] = 7.0  # the result is the caller's, not a view of the feed
    assert x[0] == 1.0


def _nested_model():
    """A Loop whose body holds an If whose branches read `a` (main graph) and `b` (the body)."""
    then_branch = _branch("then", [helper.make_node("Add", ["b", "a"], ["r"])], [vi("r")])
    else_branch = _branch("else", [helper.make_node("Sub", ["b", "a"], ["r2"])], [vi("r2")])
    body = helper.make_graph(
        [
            helper.make_node("Cast", ["i"], ["fi"], to=TensorProto.FLOAT),
            helper.make_node("Add", ["acc", "fi"], ["b"]),
            helper.make_node("Mod", ["i", "two"], ["parity"]),
            helper.make_node("Equal", ["parity", "zero"], ["even"]),
            helper.make_node(
                "If", ["even"], ["acc_out"], then_branch=then_branch, else_branch=else_branch
            ),
            helper.make_node("Identity", ["cond"], ["cond_out"]),
        ],
        "body",
        [vi("i", np.int64, []), vi("cond", np.bool_, []), vi("acc", F32, [2])],
        [vi("cond_out", np.bool_, []), vi("acc_out", F32, [2]), vi("b", F32, [2])],
    )
    constants = [
        numpy_helper.from_array(np.array(2, np.int64), "two"),
        numpy_helper.from_array(np.array(0, np.int64), "zero"),
    ]
    node = helper.make_node("Loop", ["M", "", "acc0"], ["final", "trace"], body=body, name="loop")
    inputs = [vi("M", np.int64, []), vi("acc0", F32, [2]), vi("a", F32, [2])]
    return make_model([node], inputs, [vi("final"), vi("trace")], constants)


def test_nested_subgraphs_read_every_enclosing_scope():
    a = np.array([10.0, 100.0], np.float32)
    acc = np.zeros(2, np.float32)
    trace = []
    for i in range(4):
        b = acc + i
        trace.append(b)
        acc = b + a if i % 2 == 0 else b - a
    final, got_trace = Interpreter(_nested_model()).run(
        None, {"M": np.array(4, np.int64), "acc0": np.zeros(2, np.float32), "a": a}
    )
    np.testing.assert_allclose(final, acc)
    np.testing.assert_allclose(got_trace, np.stack(trace))
    feeds = {"M": np.array(4, np.int64), "acc0": np.zeros(2, np.float32), "a": a}
    assert_same(*run_both(_nested_model(), feeds))


def test_unknown_op_in_a_subgraph_is_refused_up_front_with_its_path():
    model = _nested_model()
    if_node = model.graph.node[0].attribute[0].g.node[4]
    (then_branch,) = [a.g for a in if_node.attribute if a.name == "then_branch"]
    then_branch.node[0].op_type = "Unique"
    then_branch.node[0].name = "uniq"
    with pytest.raises(UnsupportedOpError) as info:
        Interpreter(model)
    assert info.value.op_types == ["Unique"]
    assert info.value.node_names == ["loop/body/#4/then_branch/uniq"]


def test_subgraph_may_not_read_a_value_defined_after_its_node():
    branch = _branch("then", [helper.make_node("Neg", ["late"], ["n"])], [vi("n")])
    other = _branch("else", [], [vi("x")])
    nodes = [
        helper.make_node("If", ["c"], ["y"], name="early", then_branch=branch, else_branch=other),
        helper.make_node("Relu", ["x"], ["late"]),
    ]
    model = make_model(nodes, [vi("c", np.bool_, []), vi("x")], [vi("y")])
    with pytest.raises(InterpreterError, match=r"'early/then_branch/#0' \(Neg\): input 'late'"):
        Interpreter(model)


def test_subgraph_output_that_exists_nowhere_is_refused():
    branch = _branch("then", [], [vi("nowhere")])
    other = _branch("else", [], [vi("x")])
    node = helper.make_node("If", ["c"], ["y"], name="i", then_branch=branch, else_branch=other)
    model = make_model([node], [vi("c", np.bool_, []), vi("x")], [vi("y")])
    with pytest.raises(InterpreterError, match=r"subgraph 'i/then_branch'.*'nowhere'"):
        Interpreter(model)


def test_subgraph_may_not_redefine_a_value_of_an_enclosing_graph():
    branch = _branch("then", [helper.make_node("Neg", ["x"], ["w"], name="again")], [vi("w")])
    other = _branch("else", [], [vi("x")])
    nodes = [
        helper.make_node("Relu", ["x"], ["w"]),
        helper.make_node("If", ["c"], ["y"], name="i", then_branch=branch, else_branch=other),
    ]
    model = make_model(nodes, [vi("c", np.bool_, []), vi("x")], [vi("y")])
    with pytest.raises(InterpreterError, match=r"'i/then_branch/again'.*'w' is defined twice"):
        Interpreter(model)


def test_failure_inside_a_body_names_the_inner_node_and_the_iteration():
    body = helper.make_graph(
        [
            helper.make_node("Reshape", ["x_t", "shape"], ["r"], name="reshape"),
            helper.make_node("Identity", ["s"], ["s_out"]),
        ],
        "body",
        [vi("s", F32, [2]), vi("x_t", F32, [2])],
        [vi("s_out", F32, [2]), vi("r")],
    )
    shape = numpy_helper.from_array(np.array([3], np.int64), "shape")
    node = helper.make_node("Scan", ["s0", "x"], ["s", "y"], body=body, num_scan_inputs=1)
    node.name = "scan"
    model = make_model([node], [vi("s0", F32, [2]), vi("x", F32, [4, 2])], [vi("s"), vi("y")])
    model.graph.initializer.append(shape)
    with pytest.raises(InterpreterError) as info:
        Interpreter(model).run(None, {"s0": np.zeros(2, np.float32), "x": np.ones((4, 2), "f")})
    message = str(info.value)
    assert message.startswith("node 'scan' (Scan) failed: iteration 0: node 'scan/body/reshape'")
    assert "x_t: float32[2]" in message


def _cell_body(dtype, n_scan_outputs=2):
    """h' = Tanh(x_t Wx + h Wh + b); scan outputs h' and Sigmoid(x_t); Wx, Wh, b are read
    from the outer graph."""
    nodes = [
        helper.make_node("MatMul", ["x_t", "Wx"], ["xw"]),
        helper.make_node("MatMul", ["h", "Wh"], ["hw"]),
        helper.make_node("Add", ["xw", "hw"], ["pre0"]),
        helper.make_node("Add", ["pre0", "b"], ["pre"]),
        helper.make_node("Tanh", ["pre"], ["h_next"]),
        helper.make_node("Identity", ["h_next"], ["y_t"]),
        helper.make_node("Sigmoid", ["x_t"], ["z_t"]),
    ]
    # ONNX Runtime wants the ranks of a Scan body's outputs.
    outputs = [vi("h_next", dtype, ["N", "H"]), vi("y_t", dtype, ["N", "H"])]
    outputs = [*outputs, vi("z_t", dtype, ["N", "F"])][: 1 + n_scan_outputs]
    inputs = [vi("h", dtype, ["N", "H"]), vi("x_t", dtype, ["N", "F"])]
    return helper.make_graph(nodes, "cell", inputs, outputs)


def _scan_model(dtype, x_shape, **attrs):
    node = helper.make_node(
        "Scan",
        ["h0", "x"],
        ["h_final", "ys", "zs"],
        body=_cell_body(dtype),
        num_scan_inputs=1,
        **attrs,
    )
    inputs = [vi("h0", dtype), vi("x", dtype, x_shape), vi("Wx", dtype), vi("Wh", dtype)]
    inputs.append(vi("b", dtype))
    return make_model([node], inputs, [vi("h_final", dtype), vi("ys", dtype), vi("zs", dtype)])


def _cell_reference(h, xs, wx, wh, b):
    ys = []
    for x_t in xs:
        h = np.tanh(x_t @ wx + h @ wh + b)
        ys.append(h)
    return h, np.stack(ys), 1 / (1 + np.exp(-np.asarray(xs)))


SCAN_VARIANTS = {
    "time-major": {},
    "reverse-input": dict(scan_input_directions=[1]),
    "reverse-outputs": dict(scan_output_directions=[1, 0]),
    "reverse-both": dict(scan_input_directions=[1], scan_output_directions=[1, 1]),
    "batch-major": dict(scan_input_axes=[1], scan_output_axes=[1, -1]),
}


@pytest.mark.parametrize("dtype", [F32, F64], ids=str)
@pytest.mark.parametrize("variant", list(SCAN_VARIANTS))
def test_scan_cell_matches_numpy_and_onnxruntime(variant, dtype):
    attrs = SCAN_VARIANTS[variant]
    rng = np.random.default_rng(len(variant))
    steps, batch, features, hidden = 6, 3, 4, 5
    x_time_major = rng.uniform(-1, 1, (steps, batch, features)).astype(dtype)
    x = x_time_major.transpose(1, 0, 2) if "scan_input_axes" in attrs else x_time_major
    feeds = {
        "h0": rng.uniform(-1, 1, (batch, hidden)).astype(dtype),
        "x": x,
        "Wx": rng.uniform(-1, 1, (features, hidden)).astype(dtype),
        "Wh": rng.uniform(-1, 1, (hidden, hidden)).astype(dtype),
        "b": rng.uniform(-1, 1, hidden).astype(dtype),
    }
    model = _scan_model(dtype, list(x.shape), **attrs)
    ours, theirs = run_both(model, feeds)
    assert_same(ours, theirs)
    # The same against NumPy.
    xs = x_time_major[::-1] if attrs.get("scan_input_directions") == [1] else x_time_major
    h, ys, zs = _cell_reference(feeds["h0"], xs, feeds["Wx"], feeds["Wh"], feeds["b"])
    out_dirs = attrs.get("scan_output_directions", [0, 0])
    ys, zs = (ys[::-1] if out_dirs[0] else ys), (zs[::-1] if out_dirs[1] else zs)
    if "scan_output_axes" in attrs:
        ys, zs = np.moveaxis(ys, 0, 1), np.moveaxis(zs, 0, -1)
    for got, want in zip(ours, [h, ys, zs], strict=True):
        np.testing.assert_allclose(got, want, **TOLERANCE[dtype])


@pytest.mark.parametrize("dtype", [F32, F64], ids=str)
def test_scan_bidirectional_trick_matches_onnxruntime(dtype):
    """The same input scanned twice, forward and backward, with two states."""
    body = helper.make_graph(
        [
            helper.make_node("Add", ["fwd", "a_t"], ["fwd_next"]),
            helper.make_node("Mul", ["bwd", "b_t"], ["bwd0"]),
            helper.make_node("Add", ["bwd0", "a_t"], ["bwd_next"]),
            helper.make_node("Concat", ["fwd_next", "bwd_next"], ["both"], axis=0),
        ],
        "body",
        [vi("fwd", dtype), vi("bwd", dtype), vi("a_t", dtype), vi("b_t", dtype)],
        [vi("fwd_next", dtype), vi("bwd_next", dtype), vi("both", dtype)],
    )
    node = helper.make_node(
        "Scan",
        ["f0", "b0", "x", "x"],
        ["f", "b", "trace"],
        body=body,
        num_scan_inputs=2,
        scan_input_directions=[0, 1],
        scan_output_axes=[1],
    )
    model = make_model(
        [node],
        [vi("f0", dtype, [3]), vi("b0", dtype, [3]), vi("x", dtype, [5, 3])],
        [vi("f", dtype), vi("b", dtype), vi("trace", dtype)],
    )
    rng = np.random.default_rng(0)
    feeds = {
        k: rng.uniform(-1, 1, s).astype(dtype) for k, s in [("f0", 3), ("b0", 3), ("x", (5, 3))]
    }
    ours, theirs = run_both(model, feeds)
    assert_same(ours, theirs)
    assert ours[2].shape == (6, 5)


def test_scan_body_is_planned_once_per_node(monkeypatch):
    """No kernel is looked up or built while the Scan runs: the body's plan is made once."""
    dtype = F64
    rng = np.random.default_rng(1)
    interpreter = Interpreter(_scan_model(dtype, [28, 4, 3]))
    feeds = {
        "h0": rng.standard_normal((4, 5)),
        "x": rng.standard_normal((28, 4, 3)),
        "Wx": rng.standard_normal((3, 5)),
        "Wh": rng.standard_normal((5, 5)),
        "b": rng.standard_normal(5),
    }

    def refuse(op_type):
        raise AssertionError(f"kernel_for({op_type!r}) called while running")

    monkeypatch.setattr(interpreter_module, "kernel_for", refuse)
    h, ys, _ = interpreter.run(None, feeds)
    want = _cell_reference(feeds["h0"], feeds["x"], feeds["Wx"], feeds["Wh"], feeds["b"])
    np.testing.assert_allclose(h, want[0], rtol=1e-12)
    np.testing.assert_allclose(ys, want[1], rtol=1e-12)


def test_scan_float32_graph_runs_in_float64():
    """Gradient checks feed float64 into float32 graphs; the body follows the feeds."""
    rng = np.random.default_rng(2)
    feeds = {
        "h0": rng.standard_normal((2, 5)),
        "x": rng.standard_normal((3, 2, 4)),
        "Wx": rng.standard_normal((4, 5)),
        "Wh": rng.standard_normal((5, 5)),
        "b": rng.standard_normal(5),
    }
    h, ys, zs = Interpreter(_scan_model(F32, [3, 2, 4])).run(None, feeds)
    assert h.dtype == ys.dtype == zs.dtype == np.float64
    want = _cell_reference(feeds["h0"], feeds["x"], feeds["Wx"], feeds["Wh"], feeds["b"])
    np.testing.assert_allclose(ys, want[1], rtol=1e-12)


def test_scan_with_no_steps_returns_the_initial_state_and_empty_outputs():
    model = _scan_model(F32, [0, 2, 4])
    for value in model.graph.node[0].attribute[0].g.output:
        dims = value.type.tensor_type.shape.dim
        dims[0].dim_value, dims[1].dim_value = 2, 5 if value.name != "z_t" else 4
    h0 = np.ones((2, 5), np.float32)
    feeds = {"h0": h0, "x": np.zeros((0, 2, 4), np.float32), "Wx": np.ones((4, 5), "f")}
    feeds.update(Wh=np.ones((5, 5), np.float32), b=np.ones(5, np.float32))
    h, ys, zs = Interpreter(model).run(None, feeds)
    np.testing.assert_array_equal(h, h0)
    assert ys.shape == (0, 2, 5) and zs.shape == (0, 2, 4)


def _loop_model(dtype, with_m=True, with_cond=True, always=False):
    """acc' = acc + x while max(acc') < limit (or always); scan output: acc before the step;
    x and limit are outer values."""
    keep_going = (
        [helper.make_node("Identity", ["cond"], ["cond_out"])]
        if always
        else [
            helper.make_node("ReduceMax", ["acc_out"], ["top"], keepdims=0),
            helper.make_node("Less", ["top", "limit"], ["cond_out"]),
        ]
    )
    body = helper.make_graph(
        [
            helper.make_node("Add", ["acc", "x"], ["acc_out"]),
            *keep_going,
            helper.make_node("Identity", ["acc"], ["before"]),
            helper.make_node("Cast", ["i"], ["i_out"], to=helper.np_dtype_to_tensor_dtype(dtype)),
        ],
        "body",
        [vi("i", np.int64, []), vi("cond", np.bool_, []), vi("acc", dtype, [2])],
        [vi("cond_out", np.bool_, []), vi("acc_out", dtype, [2]), vi("before", dtype, [2])]
        + [vi("i_out", dtype, [])],
    )
    node = helper.make_node(
        "Loop",
        ["M" if with_m else "", "c" if with_cond else "", "acc0"],
        ["final", "trace", "steps"],
        body=body,
    )
    inputs = [vi("acc0", dtype, [2]), vi("x", dtype, [2]), vi("limit", dtype, [])]
    inputs += [vi("M", np.int64, [])] * with_m + [vi("c", np.bool_, [])] * with_cond
    outputs = [vi("final", dtype), vi("trace", dtype), vi("steps", dtype)]
    return make_model([node], inputs, outputs)


def _loop_feeds(dtype, m=None, c=None):
    feeds = {
        "acc0": np.array([0.0, 0.5], dtype),
        "x": np.array([1.0, 2.0], dtype),
        "limit": np.array(7.0, dtype),
    }
    if m is not None:
        feeds["M"] = np.array(m, np.int64)
    if c is not None:
        feeds["c"] = np.array(c)
    return feeds


@pytest.mark.parametrize("dtype", [F32, F64], ids=str)
@pytest.mark.parametrize(
    ("m", "c", "iterations"),
    [(10, True, 4), (2, True, 2), (None, True, 4), (0, True, 0), (10, False, 0)],
)
def test_loop_matches_numpy_and_onnxruntime(m, c, iterations, dtype):
    model = _loop_model(dtype, with_m=m is not None)
    feeds = _loop_feeds(dtype, m, c)
    ours, theirs = run_both(model, feeds)
    assert_same(ours, theirs)
    final, trace, steps = ours
    np.testing.assert_allclose(final, feeds["acc0"] + iterations * feeds["x"])
    assert trace.shape == (iterations, 2) and steps.shape == (iterations,)
    np.testing.assert_array_equal(steps, np.arange(iterations))


@pytest.mark.parametrize("dtype", [F32, F64], ids=str)
def test_loop_with_trip_count_only_matches_onnxruntime(dtype):
    model = _loop_model(dtype, with_cond=False, always=True)
    assert_same(*run_both(model, _loop_feeds(dtype, m=5)))


def test_loop_without_condition_input_ignores_the_body_condition():
    """The spec: with M and no condition input, the body's condition is ignored (a for loop).
    ONNX Runtime stops when the body's condition turns false all the same."""
    (final, trace, _) = Interpreter(_loop_model(F32, with_cond=False)).run(
        None, _loop_feeds(F32, m=6)
    )
    np.testing.assert_allclose(final, [6.0, 12.5])
    assert trace.shape == (6, 2)


def test_scan_opset8_batches_and_sequence_lengths():
    """Opset 8: batch axis 0, time axis 1, per-entry lengths, outputs zero-padded."""
    body = helper.make_graph(
        [
            helper.make_node("Add", ["s", "x_t"], ["s_out"]),
            helper.make_node("Identity", ["s_out"], ["y"]),
        ],
        "body",
        [vi("s", F32, [2]), vi("x_t", F32, [2])],
        [vi("s_out", F32, [2]), vi("y", F32, [2])],
    )
    node = helper.make_node(
        "Scan", ["lens", "s0", "x"], ["s", "ys"], body=body, num_scan_inputs=1, directions=[1]
    )
    inputs = [vi("lens", np.int32, [2]), vi("s0", F32, [2, 2]), vi("x", F32, [2, 3, 2])]
    model = make_model([node], inputs, [vi("s"), vi("ys")], opset=8)
    x = np.arange(12, dtype=np.float32).reshape(2, 3, 2)
    s, ys = Interpreter(model).run(
        None, {"lens": np.array([3, 2], np.int32), "s0": np.zeros((2, 2), np.float32), "x": x}
    )
    np.testing.assert_allclose(s, [x[0].sum(0), x[1, :2].sum(0)])
    np.testing.assert_allclose(ys[1], [x[1, 1], x[1, 1] + x[1, 0], [0, 0]])
    np.testing.assert_allclose(ys[0], np.cumsum(x[0, ::-1], axis=0))


def test_scan_attributes_of_the_other_opset_are_refused():
    model = _scan_model(F32, [3, 2, 4], directions=[1])
    feeds = {
        "h0": np.zeros((2, 5), np.float32),
        "x": np.zeros((3, 2, 4), np.float32),
        "Wx": np.zeros((4, 5), np.float32),
        "Wh": np.zeros((5, 5), np.float32),
        "b": np.zeros(5, np.float32),
    }
    with pytest.raises(InterpreterError, match="directions is an opset 8 attribute"):
        Interpreter(model).run(None, feeds)
