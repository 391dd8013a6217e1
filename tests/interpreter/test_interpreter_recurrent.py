"""The RNN, GRU and LSTM kernels against ONNX Runtime (CPU), NumPy, and a Scan of the same cell.

ONNX Runtime's CPU kernels for these ops are float32 only and refuse layout 1, so:
- every option combination they accept (direction, sequence_lens, initial states and biases,
  peepholes, input_forget, linear_before_reset, clip, activations with alpha/beta) is compared
  in float32, and our float64 result against their float32 one, at float32 tolerance;
- in float64, each op is compared with ONNX Runtime running the same cell as the body of a
  Scan (the form nnc's training graphs use), at float64 tolerance;
- layout 1 is checked against layout 0 of the same data.
"""

from __future__ import annotations

import itertools
import zlib
from dataclasses import dataclass

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import helper

from nnc.runtime.interpreter import Interpreter, InterpreterError

F32, F64 = np.dtype(np.float32), np.dtype(np.float64)
# Against ORT's float32 kernels (sums in another order, over a few time steps).
ORT_F32_TOLERANCE = dict(rtol=1e-5, atol=1e-6)
# Against ORT's float64 Scan of the same cell.
F64_TOLERANCE = dict(rtol=1e-12, atol=1e-13)

GATES = {"RNN": 1, "GRU": 3, "LSTM": 4}
OUTPUTS = {"RNN": 2, "GRU": 2, "LSTM": 3}
STEPS, BATCH, FEATURES, HIDDEN = 5, 3, 4, 3
LENS = np.array([5, 2, 4], np.int32)  # ORT's zero-length semantics differ: tested apart

# Non-default activations with parameters, per op and direction (alpha/beta given for those
# whose defaults ORT gets wrong: Affine, ThresholdedRelu, ScaledTanh).
ACTIVATIONS = {
    "RNN": (["LeakyRelu"], ["Affine"]),
    "GRU": (["HardSigmoid", "Softsign"], ["Sigmoid", "ScaledTanh"]),
    "LSTM": (["HardSigmoid", "Elu", "Softplus"], ["Sigmoid", "ThresholdedRelu", "ScaledTanh"]),
}
ALPHAS = {"RNN": [0.2, 0.7, 0.3], "GRU": [0.3, 0.9], "LSTM": [0.25, 0.8, 0.1, 1.1]}
BETAS = {"RNN": [0.1], "GRU": [0.45, 0.7], "LSTM": [0.55, 0.8]}


@dataclass(frozen=True)
class Config:
    op: str
    direction: str = "forward"
    lens: bool = False
    full: bool = False  # biases and initial states given
    peepholes: bool = False
    input_forget: int = 0
    linear_before_reset: int = 0
    clip: float | None = None
    activations: bool = False

    @property
    def n_directions(self) -> int:
        return 2 if self.direction == "bidirectional" else 1

    @property
    def id(self) -> str:
        parts = [self.op, self.direction]
        parts += ["lens"] * self.lens + ["full"] * self.full + ["peep"] * self.peepholes
        parts += ["input_forget"] * self.input_forget + ["lbr"] * self.linear_before_reset
        parts += [f"clip{self.clip}"] * (self.clip is not None) + ["acts"] * self.activations
        return "-".join(parts)

    def attributes(self) -> dict:
        attrs = dict(hidden_size=HIDDEN, direction=self.direction)
        if self.op == "LSTM" and self.input_forget:
            attrs["input_forget"] = 1
        if self.op == "GRU":
            attrs["linear_before_reset"] = self.linear_before_reset
        if self.clip is not None:
            attrs["clip"] = self.clip
        if self.activations:
            names = ACTIVATIONS[self.op]
            attrs["activations"] = [n for d in range(self.n_directions) for n in names[d]]
            attrs["activation_alpha"] = ALPHAS[self.op]
            attrs["activation_beta"] = BETAS[self.op]
        return attrs

    def inputs(self, rng: np.random.Generator, dtype: np.dtype, layout: int = 0) -> list:
        """X, W, R, B, sequence_lens, initial_h[, initial_c, P], None where omitted."""
        d, gates = self.n_directions, GATES[self.op]

        def uniform(*shape, scale=1.0):
            return (scale * rng.uniform(-1, 1, shape)).astype(dtype)

        x_shape = (BATCH, STEPS, FEATURES) if layout else (STEPS, BATCH, FEATURES)
        state_shape = (BATCH, d, HIDDEN) if layout else (d, BATCH, HIDDEN)
        arrays = [
            uniform(*x_shape, scale=2.0),
            uniform(d, gates * HIDDEN, FEATURES),
            uniform(d, gates * HIDDEN, HIDDEN),
            uniform(d, 2 * gates * HIDDEN) if self.full else None,
            LENS if self.lens else None,
            uniform(*state_shape) if self.full else None,
        ]
        if self.op == "LSTM":
            arrays.append(uniform(*state_shape) if self.full else None)
            arrays.append(uniform(d, 3 * HIDDEN) if self.peepholes else None)
        while arrays[-1] is None:
            arrays.pop()
        return arrays


def _configs():
    directions = ["forward", "reverse", "bidirectional"]
    common = list(itertools.product(directions, [False, True], [False, True], [None, 0.8]))
    for direction, lens, full, clip in common:
        for activations in (False, True):
            base = dict(direction=direction, lens=lens, full=full, clip=clip)
            yield Config("RNN", activations=activations, **base)
            for lbr in (0, 1):
                yield Config("GRU", linear_before_reset=lbr, activations=activations, **base)
            for peepholes, input_forget in itertools.product((False, True), (0, 1)):
                yield Config(
                    "LSTM",
                    peepholes=peepholes,
                    input_forget=input_forget,
                    activations=activations,
                    **base,
                )


CONFIGS = list(_configs())


def _model(op, arrays, n_outputs, attrs):
    names = [f"x{i}" if a is not None else "" for i, a in enumerate(arrays)]
    inputs = [
        helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(a.dtype), a.shape)
        for n, a in zip(names, arrays, strict=True)
        if a is not None
    ]
    elem = helper.np_dtype_to_tensor_dtype(arrays[0].dtype)
    outputs = [helper.make_tensor_value_info(f"y{i}", elem, None) for i in range(n_outputs)]
    node = helper.make_node(op, names, [o.name for o in outputs], name=op, **attrs)
    graph = helper.make_graph([node], "recurrent", inputs, outputs)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 22)], ir_version=10)


def _feeds(arrays):
    return {f"x{i}": a for i, a in enumerate(arrays) if a is not None}


def _ort(model, feeds):
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(
        model.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )
    return session.run(None, feeds)


def _float32(arrays):
    return [a.astype(F32) if a is not None and a.dtype == F64 else a for a in arrays]


@pytest.mark.parametrize("dtype", [F32, F64], ids=str)
@pytest.mark.parametrize("config", CONFIGS, ids=[c.id for c in CONFIGS])
def test_matches_onnxruntime(config: Config, dtype):
    rng = np.random.default_rng(zlib.crc32(config.id.encode()))
    arrays = config.inputs(rng, dtype)
    attrs = config.attributes()
    n_outputs = OUTPUTS[config.op]
    ours = Interpreter(_model(config.op, arrays, n_outputs, attrs)).run(None, _feeds(arrays))
    ort_arrays = _float32(arrays)  # ORT's CPU kernels are float32 only
    theirs = _ort(_model(config.op, ort_arrays, n_outputs, attrs), _feeds(ort_arrays))
    expected_shapes = [
        (STEPS, config.n_directions, BATCH, HIDDEN),
        *[(config.n_directions, BATCH, HIDDEN)] * (n_outputs - 1),
    ]
    for i, (a, b, shape) in enumerate(zip(ours, theirs, expected_shapes, strict=True)):
        assert a.dtype == dtype and a.shape == shape, f"output {i}: {a.dtype}{a.shape}"
        if dtype == F64:
            a = a.astype(F32)
        np.testing.assert_allclose(a, b, err_msg=f"output {i}", **ORT_F32_TOLERANCE)


def test_every_onnxruntime_option_combination_is_covered():
    ops = {c.op for c in CONFIGS}
    assert ops == set(GATES)
    assert {(c.op, c.linear_before_reset) for c in CONFIGS if c.op == "GRU"} == {
        ("GRU", 0),
        ("GRU", 1),
    }
    lstm = [c for c in CONFIGS if c.op == "LSTM"]
    assert len(lstm) == 3 * 2 * 2 * 2 * 2 * 2 * 2  # direction lens full clip acts peep forget


# --- float64: the same cell as a Scan body on ONNX Runtime -------------------------------


def _value(name, dtype, shape=None):
    return helper.make_tensor_value_info(name, helper.np_dtype_to_tensor_dtype(dtype), shape)


def _cell_nodes(op, linear_before_reset):
    """Body nodes of one direction's cell; weights are outer values: Wt [input, gates*H],
    Rt [H, gates*H] (for GRU Rzr [H, 2H] and Rh [H, H]), bias [gates*H] (Wb + Rb; for GRU Wb,
    with Rbzr [2H] and Rbh [H]) and the peepholes pi, po, pf [H] (LSTM)."""
    mm = helper.make_node
    nodes = [mm("MatMul", ["x_t", "Wt"], ["xw"]), mm("Add", ["xw", "bias"], ["xb"])]
    if op == "RNN":
        nodes += [
            mm("MatMul", ["h", "Rt"], ["hr"]),
            mm("Add", ["xb", "hr"], ["pre"]),
            mm("Tanh", ["pre"], ["h_next"]),
        ]
    elif op == "GRU":
        nodes += [
            mm("Split", ["xb"], ["xz", "xr", "xh"], axis=1, num_outputs=3),
            mm("MatMul", ["h", "Rzr"], ["hzr0"]),
            mm("Add", ["hzr0", "Rbzr"], ["hzr"]),
            mm("Split", ["hzr"], ["hz", "hr"], axis=1, num_outputs=2),
            mm("Add", ["xz", "hz"], ["z_pre"]),
            mm("Sigmoid", ["z_pre"], ["z"]),
            mm("Add", ["xr", "hr"], ["r_pre"]),
            mm("Sigmoid", ["r_pre"], ["r"]),
        ]
        if linear_before_reset:
            nodes += [
                mm("MatMul", ["h", "Rh"], ["hh0"]),
                mm("Add", ["hh0", "Rbh"], ["hh"]),
                mm("Mul", ["r", "hh"], ["rhh"]),
                mm("Add", ["xh", "rhh"], ["cand_pre"]),
            ]
        else:
            nodes += [
                mm("Mul", ["r", "h"], ["rh"]),
                mm("MatMul", ["rh", "Rh"], ["rhh0"]),
                mm("Add", ["rhh0", "Rbh"], ["rhh"]),
                mm("Add", ["xh", "rhh"], ["cand_pre"]),
            ]
        nodes += [
            mm("Tanh", ["cand_pre"], ["cand"]),
            mm("Sub", ["h", "cand"], ["diff"]),
            mm("Mul", ["z", "diff"], ["zdiff"]),
            mm("Add", ["cand", "zdiff"], ["h_next"]),  # (1 - z) * cand + z * h
        ]
    else:
        nodes += [
            mm("MatMul", ["h", "Rt"], ["hr"]),
            mm("Add", ["xb", "hr"], ["pre"]),
            mm("Split", ["pre"], ["i0", "o0", "f0", "g0"], axis=1, num_outputs=4),
            mm("Mul", ["pi", "c"], ["pic"]),
            mm("Add", ["i0", "pic"], ["i1"]),
            mm("Sigmoid", ["i1"], ["i"]),
            mm("Mul", ["pf", "c"], ["pfc"]),
            mm("Add", ["f0", "pfc"], ["f1"]),
            mm("Sigmoid", ["f1"], ["f"]),
            mm("Tanh", ["g0"], ["g"]),
            mm("Mul", ["f", "c"], ["fc"]),
            mm("Mul", ["i", "g"], ["ig"]),
            mm("Add", ["fc", "ig"], ["c_next"]),
            mm("Mul", ["po", "c_next"], ["poc"]),
            mm("Add", ["o0", "poc"], ["o1"]),
            mm("Sigmoid", ["o1"], ["o"]),
            mm("Tanh", ["c_next"], ["hc"]),
            mm("Mul", ["o", "hc"], ["h_next"]),
        ]
    nodes.append(mm("Identity", ["h_next"], ["y_t"]))
    return nodes


def _scan_model(op, linear_before_reset, reverse, dtype):
    """A Scan running one direction of `op` over X [seq, batch, input] from its states."""
    lstm = op == "LSTM"
    states = ["h", "c"] if lstm else ["h"]
    rows = ["N", HIDDEN]
    body = helper.make_graph(
        _cell_nodes(op, linear_before_reset),
        "cell",
        [_value(s, dtype, rows) for s in states] + [_value("x_t", dtype, ["N", FEATURES])],
        [_value("h_next", dtype, rows)]
        + [_value("c_next", dtype, rows)] * lstm
        + [_value("y_t", dtype, rows)],
    )
    direction = dict(scan_input_directions=[1], scan_output_directions=[1]) if reverse else {}
    scan = helper.make_node(
        "Scan",
        [f"{s}0" for s in states] + ["X"],
        [f"{s}_last" for s in states] + ["Y"],
        body=body,
        num_scan_inputs=1,
        **direction,
    )
    outer = ["Wt", "bias"] + (["Rzr", "Rh", "Rbzr", "Rbh"] if op == "GRU" else ["Rt"])
    outer += ["pi", "po", "pf"] * lstm
    inputs = [_value(f"{s}0", dtype) for s in states] + [_value("X", dtype)]
    inputs += [_value(name, dtype) for name in outer]
    outputs = [_value(f"{s}_last", dtype) for s in states] + [_value("Y", dtype)]
    graph = helper.make_graph([scan], "scan", inputs, outputs)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)], ir_version=8)


def _scan_feeds(op, arrays, d):
    """The Scan model's feeds for direction `d` of the op's inputs."""
    x, w, r, b, _, h0, *rest = arrays
    hidden = r.shape[-1]
    gates = GATES[op]
    feeds = {"X": x, "h0": h0[d], "Wt": w[d].T}
    wb, rb = b[d, : gates * hidden], b[d, gates * hidden :]
    if op == "GRU":
        two = 2 * hidden
        feeds.update(bias=wb, Rzr=r[d, :two].T, Rh=r[d, two:].T, Rbzr=rb[:two], Rbh=rb[two:])
    else:
        feeds.update(bias=wb + rb, Rt=r[d].T)
    if op == "LSTM":
        c0, p = rest
        feeds["c0"] = c0[d]
        feeds.update(zip(["pi", "po", "pf"], np.split(p[d], 3), strict=True))
    return feeds


F64_CONFIGS = [
    Config("RNN", "bidirectional", full=True),
    Config("GRU", "bidirectional", full=True, linear_before_reset=0),
    Config("GRU", "bidirectional", full=True, linear_before_reset=1),
    Config("LSTM", "bidirectional", full=True, peepholes=True),
]


@pytest.mark.parametrize("config", F64_CONFIGS, ids=[c.id for c in F64_CONFIGS])
def test_float64_matches_a_scan_of_the_cell_on_onnxruntime(config):
    rng = np.random.default_rng(7)
    arrays = config.inputs(rng, F64)
    node_model = _model(config.op, arrays, OUTPUTS[config.op], config.attributes())
    ours = Interpreter(node_model).run(None, _feeds(arrays))
    for d, reverse in enumerate([False, True]):
        scan = _scan_model(config.op, config.linear_before_reset, reverse, F64)
        feeds = _scan_feeds(config.op, arrays, d)
        theirs = _ort(scan, feeds)
        scanned_here = Interpreter(scan).run(None, feeds)
        final_states = theirs[:-1]
        # Y, then the final states (Y_h, Y_c), of this direction.
        pairs = [(ours[0][:, d], theirs[-1])] + [
            (ours[1 + k][d], final_states[k]) for k in range(len(final_states))
        ]
        for k, (a, b) in enumerate(pairs):
            assert a.dtype == b.dtype == F64
            np.testing.assert_allclose(a, b, err_msg=f"direction {d}, output {k}", **F64_TOLERANCE)
        for a, b in zip(scanned_here, theirs, strict=True):
            np.testing.assert_allclose(a, b, **F64_TOLERANCE)


# --- what ONNX Runtime cannot check ------------------------------------------------------


@pytest.mark.parametrize("op", list(GATES))
def test_layout_1_is_layout_0_transposed(op):
    config = Config(op, "bidirectional", lens=True, full=True, peepholes=op == "LSTM")
    rng = np.random.default_rng(3)
    arrays = config.inputs(rng, F64)
    attrs = config.attributes()
    n = OUTPUTS[op]
    time_major = Interpreter(_model(op, arrays, n, attrs)).run(None, _feeds(arrays))
    # X, initial_h and initial_c (inputs 0, 5 and 6) change layout.
    batch_major_arrays = [
        a.transpose(1, 0, 2) if i in (0, 5, 6) else a for i, a in enumerate(arrays)
    ]
    model = _model(op, batch_major_arrays, n, {**attrs, "layout": 1})
    batch_major = Interpreter(model).run(None, _feeds(batch_major_arrays))
    np.testing.assert_array_equal(batch_major[0], time_major[0].transpose(2, 0, 1, 3))
    for a, b in zip(batch_major[1:], time_major[1:], strict=True):
        np.testing.assert_array_equal(a, b.transpose(1, 0, 2))


@pytest.mark.parametrize("op", list(GATES))
def test_empty_sequence_keeps_its_initial_state(op):
    """A sequence of length 0 takes no step: its Y is zero and its final state is its initial
    state (ONNX Runtime returns zeros as the final state instead; the spec is silent)."""
    config = Config(op, "bidirectional", full=True)
    arrays = config.inputs(np.random.default_rng(4), F64)
    arrays += [None] * (6 - len(arrays))
    arrays[4] = np.array([5, 0, 3], np.int32)
    n = OUTPUTS[op]
    outputs = Interpreter(_model(op, arrays, n, config.attributes())).run(None, _feeds(arrays))
    np.testing.assert_array_equal(outputs[0][:, :, 1], 0)
    np.testing.assert_array_equal(outputs[0][3:, :, 2], 0)
    np.testing.assert_array_equal(outputs[1][:, 1], arrays[5][:, 1])
    if op == "LSTM":
        np.testing.assert_array_equal(outputs[2][:, 1], arrays[6][:, 1])


def _rnn_steps(x, w, r, h, activation):
    ys = []
    for x_t in x:
        h = activation(x_t @ w.T + h @ r.T)
        ys.append(h)
    return np.stack(ys)


@pytest.mark.parametrize(
    ("name", "alpha", "expected"),
    [
        # Defaults of the ONNX ops of these names (ORT takes 0 for Affine and ThresholdedRelu).
        ("Affine", None, lambda x: x),
        ("ThresholdedRelu", None, lambda x: np.where(x >= 1.0, x, 0)),
        ("LeakyRelu", None, lambda x: np.where(x >= 0, x, 0.01 * x)),
        ("Elu", None, lambda x: np.where(x >= 0, x, np.expm1(x))),
        ("HardSigmoid", None, lambda x: np.clip(0.2 * x + 0.5, 0, 1)),
        ("Softsign", None, lambda x: x / (1 + np.abs(x))),
        ("Softplus", None, lambda x: np.log1p(np.exp(x))),
        ("Relu", None, lambda x: np.maximum(x, 0)),
        ("relu", None, lambda x: np.maximum(x, 0)),  # case-insensitive, as in ORT
        ("ScaledTanh", (0.5, 2.0), lambda x: 0.5 * np.tanh(2.0 * x)),
        ("Affine", (0.5, 2.0), lambda x: 0.5 * x + 2.0),
    ],
)
def test_activation_defaults_follow_the_onnx_ops(name, alpha, expected):
    rng = np.random.default_rng(5)
    x, w, r = rng.normal(size=(4, 2, 3)), rng.normal(size=(1, 3, 3)), rng.normal(size=(1, 3, 3))
    attrs = dict(activations=[name])
    if alpha is not None:
        attrs.update(activation_alpha=[alpha[0]], activation_beta=[alpha[1]])
    y, _ = Interpreter(_model("RNN", [x, w, r], 2, attrs)).run(None, _feeds([x, w, r]))
    np.testing.assert_allclose(y[:, 0], _rnn_steps(x, w[0], r[0], np.zeros((2, 3)), expected))


@pytest.mark.parametrize(
    ("attrs", "message"),
    [
        (dict(activations=["ScaledTanh"]), "ScaledTanh needs activation_alpha"),
        (dict(activations=["Swish"]), "unknown activation 'Swish'; known: Relu, Tanh"),
        (dict(activations=["Tanh"], direction="bidirectional"), "1 names; 1 per direction"),
        (dict(hidden_size=4), "hidden_size is 4, R has 3 columns"),
        (dict(direction="sideways"), "direction must be forward, reverse or bidirectional"),
    ],
)
def test_invalid_attributes_are_reported(attrs, message):
    rng = np.random.default_rng(6)
    d = 2 if attrs.get("direction") == "bidirectional" else 1
    arrays = [rng.normal(size=(4, 2, 3)), rng.normal(size=(d, 3, 3)), rng.normal(size=(d, 3, 3))]
    with pytest.raises(InterpreterError, match=message):
        Interpreter(_model("RNN", arrays, 2, attrs)).run(None, _feeds(arrays))


def test_sequence_lengths_beyond_the_sequence_are_refused():
    x, w, r = Config("GRU").inputs(np.random.default_rng(8), F32)
    arrays = [x, w, r, None, np.array([1, 6, 2], np.int32)]
    with pytest.raises(InterpreterError, match=r"sequence_lens \[1, 6, 2\] is outside \[0, 5\]"):
        Interpreter(_model("GRU", arrays, 2, {})).run(None, _feeds(arrays))


def test_the_schema_default_activations_of_rnn_name_two_functions():
    """RNN's schema default is ["Tanh", "Tanh"] whatever the direction; one direction takes
    the first (as ORT does)."""
    schema = onnx.defs.get_schema("RNN")
    assert list(schema.attributes["activations"].default_value.strings) == [b"Tanh", b"Tanh"]
    rng = np.random.default_rng(9)
    x, w, r = rng.normal(size=(4, 2, 3)), rng.normal(size=(1, 3, 3)), rng.normal(size=(1, 3, 3))
    model = _model("RNN", [x, w, r], 2, dict(activations=["Relu", "Tanh"]))
    y, _ = Interpreter(model).run(None, _feeds([x, w, r]))
    relu = _rnn_steps(x, w[0], r[0], np.zeros((2, 3)), lambda v: np.maximum(v, 0))
    np.testing.assert_allclose(y[:, 0], relu)


def test_lstm_clip_bounds_the_gate_inputs_not_the_cell_state():
    """`clip` bounds the inputs of f and g; h(Ct) sees the cell state unclipped, as in ORT.
    (The spec's "applied to the input of activations" could be read to include h's input.)"""
    config = Config("LSTM", full=True)
    arrays = config.inputs(np.random.default_rng(10), F32)
    attrs = dict(
        hidden_size=HIDDEN,
        clip=0.1,
        activations=["Sigmoid", "Affine", "Tanh"],  # g = 10 x lets |C| exceed the clip
        activation_alpha=[10.0],
        activation_beta=[0.0],
    )
    model = _model("LSTM", arrays, 3, attrs)
    ours = Interpreter(model).run(None, _feeds(arrays))
    assert np.abs(ours[2]).max() > 0.5
    for a, b in zip(ours, _ort(model, _feeds(arrays)), strict=True):
        np.testing.assert_allclose(a, b, **ORT_F32_TOLERANCE)
