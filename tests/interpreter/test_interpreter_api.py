"""The interpreter's API and error behaviour: what callers (engines, the NaN guard, gradient
checks) rely on beyond op semantics."""

from __future__ import annotations

import ast
import pathlib
import subprocess
import sys

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from nnc.runtime.interpreter import Interpreter, InterpreterError, UnsupportedOpError
from nnc.runtime.interpreter.errors import RegistrationError
from nnc.runtime.interpreter.kernel import Kernel
from nnc.runtime.interpreter.registry import register

INTERPRETER_DIR = pathlib.Path(__file__).parents[2] / "runtime" / "interpreter"

# The ops the compiler may emit (the interpreter's brief); all must have a kernel.
REQUIRED_OPS = """
Abs Add And ArgMax ArgMin AveragePool BatchNormalization Cast CastLike Ceil Clip Col2Im Concat
Constant ConstantOfShape Conv ConvTranspose Cos CumSum Div Dropout Einsum Elu Equal Erf Exp
Expand Flatten Floor Gather GatherElements Gemm GlobalAveragePool GlobalMaxPool Greater
GreaterOrEqual HardSigmoid Identity IsInf IsNaN LeakyRelu Less LessOrEqual Log LogSoftmax LRN
MatMul Max MaxPool Mean Min Mod Mul Neg Not OneHot Or Pad Pow PRelu Range Reciprocal ReduceL1
ReduceL2 ReduceLogSumExp ReduceMax ReduceMean ReduceMin ReduceProd ReduceSum ReduceSumSquare
Relu Reshape ScatterElements ScatterND Selu Shape Sigmoid Sign Sin Size Slice Softmax
SoftmaxCrossEntropyLoss NegativeLogLikelihoodLoss Softplus Softsign Split Sqrt Squeeze Sub Sum
Tanh Tile Transpose Unsqueeze Where Xor Gelu
Scan RNN GRU LSTM
""".split()


def _model(nodes, inputs, outputs, initializers=(), opset=18):
    graph = helper.make_graph(nodes, "g", inputs, outputs, initializer=list(initializers))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=8)


def _tensor(name, shape, elem_type=TensorProto.FLOAT):
    return helper.make_tensor_value_info(name, elem_type, shape)


def _chain_model():
    """y = Relu(x * w) + 1, with named nodes; w is an initializer."""
    nodes = [
        helper.make_node("Mul", ["x", "w"], ["xw"], name="scale"),
        helper.make_node("Relu", ["xw"], ["r"], name="relu"),
        helper.make_node(
            "Constant", [], ["one"], name="one", value=numpy_helper.from_array(np.float32(1))
        ),
        helper.make_node("Add", ["r", "one"], ["y"], name="shift"),
    ]
    w = numpy_helper.from_array(np.array([1.0, -2.0, 3.0], np.float32), "w")
    return _model(nodes, [_tensor("x", ["N", 3])], [_tensor("y", ["N", 3])], [w])


def test_required_ops_are_supported():
    missing = set(REQUIRED_OPS) - set(Interpreter.supported_ops())
    assert not missing
    assert Interpreter.supported_ops() == sorted(Interpreter.supported_ops())


def test_run_returns_outputs_and_named_intermediates():
    interpreter = Interpreter(_chain_model())
    assert interpreter.input_names == ["x"]
    assert interpreter.output_names == ["y"]
    x = np.array([[1.0, 1.0, -1.0], [2.0, 0.5, 0.0]], np.float32)
    (y,) = interpreter.run(None, {"x": x})
    expected = np.maximum(x * [1.0, -2.0, 3.0], 0) + 1
    np.testing.assert_array_equal(y, expected)
    assert y.dtype == np.float32
    xw, y2 = interpreter.run(["xw", "y"], {"x": x})
    np.testing.assert_array_equal(xw, x * [1.0, -2.0, 3.0])
    np.testing.assert_array_equal(y2, expected)


def test_loads_from_path_and_bytes(tmp_path):
    model = _chain_model()
    path = tmp_path / "m.onnx"
    onnx.save(model, path)
    x = np.ones((1, 3), np.float32)
    want = Interpreter(model).run(None, {"x": x})
    for source in (path, str(path), model.SerializeToString()):
        np.testing.assert_array_equal(Interpreter(source).run(None, {"x": x})[0], want[0])


def test_observer_sees_every_node_in_order():
    seen = []
    Interpreter(_chain_model()).run(
        None,
        {"x": np.ones((2, 3), np.float32)},
        observer=lambda node, values: seen.append((node.name, sorted(values))),
    )
    assert seen == [("scale", ["xw"]), ("relu", ["r"]), ("one", ["one"]), ("shift", ["y"])]


def test_observer_finds_the_first_non_finite_tensor():
    nodes = [
        helper.make_node("Log", ["x"], ["l"], name="log"),
        helper.make_node("Exp", ["l"], ["e"], name="exp"),
    ]
    model = _model(nodes, [_tensor("x", [2])], [_tensor("e", [2])])
    first = []

    def guard(node, values):
        if not first and any(not np.all(np.isfinite(v)) for v in values.values()):
            first.append(node.name)

    Interpreter(model).run(None, {"x": np.array([1.0, -1.0], np.float32)}, observer=guard)
    assert first == ["log"]


def test_results_are_owned_by_the_caller():
    nodes = [
        helper.make_node("Identity", ["x"], ["a"]),
        helper.make_node("Identity", ["w"], ["b"]),
        helper.make_node("Expand", ["w", "shape"], ["c"]),
    ]
    initializers = [
        numpy_helper.from_array(np.array([1.0, 2.0], np.float32), "w"),
        numpy_helper.from_array(np.array([3, 2], np.int64), "shape"),
    ]
    model = _model(
        nodes,
        [_tensor("x", [2])],
        [_tensor("a", [2]), _tensor("b", [2]), _tensor("c", [3, 2])],
        initializers,
    )
    interpreter = Interpreter(model)
    x = np.array([5.0, 6.0], np.float32)
    a, b, c = interpreter.run(None, {"x": x})
    a[0] = b[0] = c[0, 0] = -1.0  # must not write into the feed or the initializer
    assert x[0] == 5.0
    np.testing.assert_array_equal(interpreter.run(["b"], {"x": x})[0], [1.0, 2.0])


def test_float32_graph_runs_in_float64():
    nodes = [helper.make_node("Softmax", ["x"], ["s"]), helper.make_node("Tanh", ["s"], ["y"])]
    model = _model(nodes, [_tensor("x", [2, 3])], [_tensor("y", [2, 3])])
    x = np.random.default_rng(0).standard_normal((2, 3))
    (y,) = Interpreter(model).run(None, {"x": x})
    assert y.dtype == np.float64
    e = np.exp(x - x.max(axis=1, keepdims=True))
    np.testing.assert_allclose(y, np.tanh(e / e.sum(axis=1, keepdims=True)), rtol=1e-14)


def test_optional_inputs_and_outputs_may_be_empty_names():
    nodes = [
        helper.make_node("Clip", ["x", "", "hi"], ["c"]),
        helper.make_node("Dropout", ["c"], ["d", ""]),
        helper.make_node("Split", ["d"], ["s0", "", "s2"], axis=0, num_outputs=3),
    ]
    hi = numpy_helper.from_array(np.array(0.5, np.float32), "hi")
    model = _model(nodes, [_tensor("x", [3])], [_tensor("s0", [1]), _tensor("s2", [1])], [hi])
    s0, s2 = Interpreter(model).run(None, {"x": np.array([1.0, 0.0, -1.0], np.float32)})
    np.testing.assert_array_equal(s0, [0.5])
    np.testing.assert_array_equal(s2, [-1.0])


def test_constant_with_sparse_value():
    sparse = helper.make_sparse_tensor(
        numpy_helper.from_array(np.array([5.0, 7.0], np.float32), "v"),
        numpy_helper.from_array(np.array([1, 4], np.int64), "i"),
        [2, 3],
    )
    model = _model(
        [helper.make_node("Constant", [], ["c"], sparse_value=sparse)], [], [_tensor("c", [2, 3])]
    )
    (c,) = Interpreter(model).run(None, {})
    np.testing.assert_array_equal(c, [[0, 5, 0], [0, 7, 0]])


def test_unsupported_op_is_refused_up_front_with_its_name():
    nodes = [
        helper.make_node("Relu", ["x"], ["r"], name="ok"),
        helper.make_node("Unique", ["r"], ["h"], name="uniq_1"),
        helper.make_node("FusedThing", ["h"], ["f"], name="fused", domain="com.example"),
        helper.make_node("Unique", ["f"], ["y"], name="uniq_2"),
    ]
    model = _model(nodes, [_tensor("x", [2])], [_tensor("y", [2])])
    model.opset_import.append(helper.make_opsetid("com.example", 1))
    with pytest.raises(UnsupportedOpError) as info:
        Interpreter(model)
    message = str(info.value)
    for text in ["Unique", "'uniq_1'", "'uniq_2'", "com.example::FusedThing", "'fused'"]:
        assert text in message
    assert "Interpreter.supported_ops()" in message
    assert info.value.op_types == ["Unique", "com.example::FusedThing"]
    assert isinstance(info.value, InterpreterError)


def test_missing_and_unknown_feeds_are_named():
    interpreter = Interpreter(_chain_model())
    with pytest.raises(InterpreterError, match=r"missing feed.*\['x'\]"):
        interpreter.run(None, {})
    with pytest.raises(InterpreterError, match=r"\['z'\] name no graph input"):
        interpreter.run(None, {"x": np.ones((1, 3), np.float32), "z": np.ones(1)})


def test_feed_shape_is_checked_against_static_dims():
    interpreter = Interpreter(_chain_model())
    interpreter.run(None, {"x": np.ones((7, 3), np.float32)})  # symbolic batch: any size
    with pytest.raises(InterpreterError, match=r"feed 'x' has shape \[2, 4\]"):
        interpreter.run(None, {"x": np.ones((2, 4), np.float32)})
    with pytest.raises(InterpreterError, match="rank 2"):
        interpreter.run(None, {"x": np.ones(3, np.float32)})


def test_feed_dtype_is_checked_except_between_floats():
    nodes = [helper.make_node("Gather", ["x", "i"], ["y"])]
    inputs = [_tensor("x", [3]), _tensor("i", [2], TensorProto.INT64)]
    interpreter = Interpreter(_model(nodes, inputs, [_tensor("y", [2])]))
    (y,) = interpreter.run(None, {"x": np.arange(3.0), "i": np.array([2, 0])})
    assert y.dtype == np.float64
    with pytest.raises(
        InterpreterError, match="feed 'i' has dtype int32, the graph declares int64"
    ):
        interpreter.run(None, {"x": np.arange(3.0), "i": np.array([2, 0], np.int32)})


def test_unknown_requested_value_is_an_error():
    with pytest.raises(InterpreterError, match="nope"):
        Interpreter(_chain_model()).run(["nope"], {"x": np.ones((1, 3), np.float32)})


def test_kernel_failure_names_the_node_and_input_shapes():
    nodes = [helper.make_node("MatMul", ["a", "b"], ["y"], name="project")]
    model = _model(
        nodes, [_tensor("a", ["N", "K"]), _tensor("b", ["K", "M"])], [_tensor("y", None)]
    )
    with pytest.raises(InterpreterError) as info:
        Interpreter(model).run(None, {"a": np.ones((2, 3), np.float32), "b": np.ones((4, 5))})
    message = str(info.value)
    assert "'project' (MatMul)" in message
    assert "a: float32[2, 3]" in message and "b: float64[4, 5]" in message
    assert isinstance(info.value.__cause__, ValueError)


def test_unnamed_node_is_identified_by_position():
    nodes = [
        helper.make_node("Relu", ["x"], ["r"]),
        helper.make_node("Reshape", ["r", "shape"], ["y"]),
    ]
    shape = numpy_helper.from_array(np.array([5], np.int64), "shape")
    model = _model(nodes, [_tensor("x", [2])], [_tensor("y", [5])], [shape])
    with pytest.raises(InterpreterError, match=r"node '#1' \(Reshape\) failed"):
        Interpreter(model).run(None, {"x": np.ones(2, np.float32)})


def test_graph_out_of_topological_order_is_refused():
    nodes = [
        helper.make_node("Relu", ["r"], ["y"], name="second"),
        helper.make_node("Neg", ["x"], ["r"], name="first"),
    ]
    model = _model(nodes, [_tensor("x", [2])], [_tensor("y", [2])])
    with pytest.raises(InterpreterError, match=r"'second' \(Relu\): input 'r'.*topologically"):
        Interpreter(model)


def test_value_defined_twice_is_refused():
    nodes = [
        helper.make_node("Relu", ["x"], ["y"], name="a"),
        helper.make_node("Neg", ["x"], ["y"], name="b"),
    ]
    with pytest.raises(InterpreterError, match="defined twice"):
        Interpreter(_model(nodes, [_tensor("x", [2])], [_tensor("y", [2])]))


def test_unknown_attribute_is_refused():
    nodes = [helper.make_node("Relu", ["x"], ["y"], name="r", alpha=0.5)]
    with pytest.raises(InterpreterError, match=r"'r' \(Relu\).*no attribute 'alpha'"):
        Interpreter(_model(nodes, [_tensor("x", [2])], [_tensor("y", [2])]))


def test_too_many_inputs_are_refused():
    nodes = [helper.make_node("Relu", ["x", "x"], ["y"], name="r")]
    with pytest.raises(InterpreterError, match="at most 1 inputs"):
        Interpreter(_model(nodes, [_tensor("x", [2])], [_tensor("y", [2])]))


def test_duplicate_registration_is_fatal():
    Interpreter.supported_ops()  # make sure the registry is filled
    with pytest.raises(RegistrationError, match="Relu"):

        @register("Relu")
        class Relu(Kernel):
            def run(self, x):
                return (x,)


def test_interpreter_imports_no_compiler_runtime_or_reference_code():
    """The oracle must share no code with what it checks, nor borrow another engine."""
    forbidden = ("nnc.compiler", "onnxruntime", "onnx.reference", "scipy", "torch")
    for path in INTERPRETER_DIR.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            for name in names:
                assert not name.startswith(forbidden), f"{path.name} imports {name}"
    code = (
        "import sys\n"
        "from nnc.runtime.interpreter import Interpreter\n"
        "Interpreter.supported_ops()\n"
        f"bad = [m for m in sys.modules if m.startswith({forbidden!r})]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_only_the_nodes_a_request_needs_run():
    from onnx import TensorProto, helper

    from nnc.runtime.interpreter import Interpreter, InterpreterError

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])
    outs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in ("y1", "y2")]
    bad_shape = helper.make_tensor("bad", TensorProto.INT64, [1], [7])
    graph = helper.make_graph(
        [
            helper.make_node("Relu", ["x"], ["y1"]),
            helper.make_node("Reshape", ["x", "bad"], ["y2"]),
        ],
        "g",
        [x],
        outs,
        initializer=[bad_shape],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    interp = Interpreter(model)
    feeds = {"x": np.array([[-1.0, 2.0, 3.0], [4.0, -5.0, 6.0]], np.float32)}
    assert interp.run(["y1"], feeds)[0].tolist() == [[0.0, 2.0, 3.0], [4.0, 0.0, 6.0]]
    with pytest.raises(InterpreterError, match="Reshape"):
        interp.run(["y2"], feeds)
