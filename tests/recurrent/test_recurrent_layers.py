"""Recurrent layers: every option passes a float64 gradient check, the training forward (a Scan,
or unrolled) equals the inference graph's native RNN/GRU/LSTM, and onnxruntime agrees with the
interpreter on the training graphs."""

from __future__ import annotations

import numpy as np
import pytest

from nnc.compiler.graphs import inference_model, training_graphs
from nnc.compiler.network import Network
from nnc.compiler.spec.errors import SpecError
from nnc.compiler.spec.model import parse_spec
from nnc.runtime.engines import OrtEngine
from nnc.runtime.gradcheck import gradcheck
from nnc.runtime.interpreter import Interpreter

OPTIONS = {
    "simple_rnn": ["", "activation: relu", "bidirectional: true", "return_sequences: true"],
    "gru": [
        "",
        "linear_before_reset: false",
        "bidirectional: true, return_sequences: true",
        "activation: sigmoid",
    ],
    "lstm": ["", "forget_bias: 0.0", "bidirectional: true", "return_sequences: true"],
}
CASES = [
    pytest.param(kind, extra, unroll, id=f"{kind}-{extra or 'default'}-unroll_{unroll}")
    for kind, extras in OPTIONS.items()
    for extra in extras
    for unroll in ("false", "true")
]


def _net(kind: str, extra: str, unroll: str, head: str = "  - {type: dense, units: 2}\n"):
    opts = ", ".join(filter(None, [f"type: {kind}", "units: 4", extra, f"unroll: {unroll}"]))
    text = f"input: {{shape: [6, 3]}}\nlayers:\n  - {{{opts}}}\n" + head + "loss: mse\n"
    return Network(parse_spec(text))


@pytest.mark.parametrize(("kind", "extra", "unroll"), CASES)
def test_gradients_check_and_training_forward_equals_inference(kind, extra, unroll):
    net = _net(kind, extra, unroll)
    assert all(r.ok(1e-6) for r in gradcheck(net, samples=3, per_param=6))
    values = net.initial_values(1, np.float64)
    x = np.random.default_rng(2).normal(size=(3, 6, 3))
    y = Interpreter(inference_model(net, values, np.float64)).run(["y"], {"x": x})[0]
    g = training_graphs(net, np.float64)
    feeds = {"x": x, "y": np.zeros_like(y), **values}
    train_loss = Interpreter(g.gradient).run(["loss"], feeds)[0]
    assert float(train_loss) == pytest.approx(float(np.mean(y**2)), rel=1e-12)


@pytest.mark.parametrize("kind", sorted(OPTIONS))
@pytest.mark.parametrize("unroll", ["false", "true"])
def test_onnxruntime_runs_the_training_graphs_like_the_interpreter(kind, unroll):
    net = _net(
        kind,
        "bidirectional: true, return_sequences: true",
        unroll,
        "  - {type: gru, units: 3}\n  - {type: dense, units: 2}\n",
    )
    g = training_graphs(net)
    rng = np.random.default_rng(0)
    values = net.initial_values(0)
    feeds = {
        "x": rng.normal(size=(5, 6, 3)).astype(np.float32),
        "y": rng.normal(size=(5, 2)).astype(np.float32),
        "step": np.array(0, np.int64),
        "lr": np.array(0.01, np.float32),
        **values,
        **g.initial_state(),
    }
    outs = [o.name for o in g.train_step.graph.output]
    ort = OrtEngine("cpu").session(g.train_step)(outs, feeds)
    ref = Interpreter(g.train_step).run(outs, feeds)
    for name, a, b in zip(outs, ort, ref):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6, err_msg=name)
    # the training forward on onnxruntime equals the inference graph's native op (rtol 1e-5)
    y = OrtEngine("cpu").session(inference_model(net, values))(["y"], {"x": feeds["x"]})[0]
    loss = OrtEngine("cpu").session(g.gradient)(
        ["loss"], {k: feeds[k] for k in ("x", "y")} | values
    )[0]
    assert float(loss) == pytest.approx(float(np.mean((y - feeds["y"]) ** 2)), rel=1e-5)


def test_the_backward_scan_does_not_grow_with_the_sequence():
    sizes = []
    for steps in (4, 40):
        layer = "{type: lstm, units: 4, unroll: false}"
        text = f"input: {{shape: [{steps}, 3]}}\nlayers:\n  - {layer}\nloss: mse\n"
        sizes.append(len(training_graphs(Network(parse_spec(text))).train_step.graph.node))
    assert sizes[0] == sizes[1]


@pytest.mark.parametrize(
    ("shape", "layer", "message"),
    [
        ("[12]", "{type: lstm, units: 4}", r"layers\[0\].type: lstm takes sequences \[T, F\]"),
        (
            "[5, 3]",
            "{type: gru, units: 4, recurrent_weights: [[1.0]]}",
            r"layers\[0\].recurrent_weights: recurrent_weights has shape \[1, 1\] but .*\[12, 4\]",
        ),
        ("[5, 3]", "{type: lstm, units: 4, bias_init: orthogonal}", r"bias_init: orthogonal"),
    ],
)
def test_bad_recurrent_specs_name_the_layer(shape, layer, message):
    with pytest.raises(SpecError, match=message):
        Network(parse_spec(f"input: {{shape: {shape}}}\nlayers:\n  - {layer}\n"))
