"""Property tests: random small specs (dense, conv, pooling, batch-norm, dropout and merge layers,
every activation, loss and optimizer) compile to graphs that pass the ONNX checker, run the same
on onnxruntime and on the interpreter, pass a float64 gradient check, and lower their loss.

Derandomized and bounded (NNC_PROPERTY_EXAMPLES, default 12) so the default run stays fast and
repeatable; raise it (and set NNC_PROPERTY_RANDOM=1 for fresh examples) to search harder.
"""

from __future__ import annotations

import os

import numpy as np
import onnx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nnc.compiler.activations import ACTIVATIONS
from nnc.compiler.graphs import inference_model, training_graphs
from nnc.compiler.losses import LOSSES
from nnc.compiler.network import Network
from nnc.compiler.optim import OPTIMIZERS
from nnc.compiler.spec.model import parse_spec
from nnc.runtime.engines import OrtEngine
from nnc.runtime.gradcheck import gradcheck, random_batch
from nnc.runtime.interpreter import Interpreter

EXAMPLES = int(os.environ.get("NNC_PROPERTY_EXAMPLES", "12"))
PROPERTY = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=not os.environ.get("NNC_PROPERTY_RANDOM"),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# activations a hidden layer may use: differentiable, and not softmax-like (those only as heads)
HIDDEN_ACTS = sorted(n for n, a in ACTIVATIONS.items() if a.differentiable and not a.over_last_axis)
# small learning rates that lower any loss in a few steps from a fixed batch
LR = {"sgd": 0.01, "adagrad": 0.01, "rmsprop": 0.001, "adam": 0.001, "adamw": 0.001}


@st.composite
def dense_body(draw) -> tuple[list[int], list[str]]:
    width = draw(st.integers(2, 5))
    layers: list[str] = []
    for i in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["dense", "dense", "dropout", "batch_norm", "act", "merge"]))
        units = draw(st.integers(2, 5))
        act = draw(st.sampled_from(HIDDEN_ACTS))
        if kind == "dense":
            layers.append(f"{{type: dense, units: {units}, activation: {act}, name: d{i}}}")
        elif kind == "dropout":
            layers.append(f"{{type: dropout, rate: 0.25, name: drop{i}}}")
        elif kind == "batch_norm":
            layers.append(f"{{type: dense, units: {units}, name: d{i}}}")
            layers.append(f"{{type: batch_norm, name: bn{i}}}")
        elif kind == "act":
            layers.append(f"{{type: dense, units: {units}, name: d{i}}}")
            layers.append(f"{{type: {'tanh' if act == 'linear' else act}, name: a{i}}}")
        else:  # two branches from the same value, merged
            layers.append(f"{{type: dense, units: {units}, activation: {act}, name: m{i}}}")
            layers.append(f"{{type: dense, units: {units}, name: p{i}, inputs: [m{i}]}}")
            layers.append(f"{{type: dense, units: {units}, name: q{i}, inputs: [m{i}]}}")
            merge = draw(st.sampled_from(["add", "concat"]))
            layers.append(f"{{type: {merge}, inputs: [p{i}, q{i}], name: j{i}}}")
    return [width], layers


@st.composite
def conv_body(draw) -> tuple[list[int], list[str]]:
    c, h = draw(st.integers(1, 2)), draw(st.integers(4, 6))
    size = h  # spatial size so far, so that every window fits
    layers = []
    for i in range(draw(st.integers(1, 2))):
        k = draw(st.integers(1, min(3, size)))
        pad = draw(st.sampled_from(["same", "valid"]))
        size = size if pad == "same" else size - k + 1
        act = draw(st.sampled_from(HIDDEN_ACTS))
        layers.append(
            f"{{type: conv2d, filters: {draw(st.integers(1, 3))}, kernel: {k}, padding: {pad}, "
            f"activation: {act}, name: c{i}}}"
        )
        extras = ["none", "batch_norm"] + (["max_pool2d", "avg_pool2d"] if size >= 2 else [])
        extra = draw(st.sampled_from(extras))
        if extra == "batch_norm":
            layers.append(f"{{type: batch_norm, name: bn{i}}}")
        elif extra != "none":
            layers.append(f"{{type: {extra}, size: 2, stride: 1, name: pool{i}}}")
            size -= 1
    layers.append(draw(st.sampled_from(["{type: flatten}", "{type: global_avg_pool2d}"])))
    return [c, h, h], layers


@st.composite
def specs(draw) -> str:
    shape, layers = draw(st.one_of(dense_body(), conv_body()))
    loss = draw(st.sampled_from(LOSSES.names()))
    outputs = draw(st.integers(1, 3))
    outputs = max(LOSSES[loss].for_output((outputs,)).min_classes, outputs)
    ldef = LOSSES[loss].for_output((outputs,))  # one output: hinge is binary, reads a step
    head = f"{{type: dense, units: {outputs}, name: head}}"
    finals = ["", *ldef.reads_through]
    final = draw(st.sampled_from(finals))
    if final and ACTIVATIONS[final].over_last_axis and outputs < 2:
        final = ""
    opt = draw(st.sampled_from(OPTIMIZERS.names()))
    lr = LR.get(opt, 1e-4)
    lines = [f"input: {{shape: {shape}}}", "layers:"]
    lines += [
        f"  - {layer}" for layer in [*layers, head] + ([f"{{type: {final}}}"] if final else [])
    ]
    lines += [f"loss: {loss}", f"optimizer: {{type: {opt}, lr: {lr}}}"]
    return "\n".join(lines) + "\n"


def _feeds(net: Network, graphs, rng, n: int = 4, dtype=np.float32) -> dict:
    batch = random_batch(net, n, rng)
    feeds = {k: v.astype(dtype) if v.dtype.kind == "f" else v for k, v in batch.items()}
    for name, shape in graphs.random_inputs.items():
        feeds[name] = rng.random((n, *shape)).astype(dtype)
    return feeds


@PROPERTY
@given(specs())
def test_random_specs_compile_check_agree_and_learn(text):
    net = Network(parse_spec(text))
    graphs = training_graphs(net)
    models = {"model": inference_model(net, net.initial_values(0)), **graphs.models()}
    for model in models.values():
        onnx.checker.check_model(model, full_check=True)

    # one train step and the gradient graph: onnxruntime and the interpreter agree. (Updated
    # parameters are not compared: an adaptive optimizer turns float32 noise in a near-zero
    # gradient into a full-size step of either sign.)
    rng = np.random.default_rng(0)
    values = net.initial_values(0)
    feeds = {
        **_feeds(net, graphs, rng),
        **values,
        **graphs.initial_state(),
        "step": np.array(0, np.int64),
        "lr": np.array(net.spec.optimizer["lr"], np.float32),
    }
    outs = [o.name for o in graphs.train_step.graph.output]
    reported = [o for o in outs if not o.endswith(".next")]
    ort = OrtEngine("cpu").session(graphs.train_step)(reported, feeds)
    ref = Interpreter(graphs.train_step).run(reported, feeds)
    for name, a, b in zip(reported, ort, ref):
        np.testing.assert_allclose(a, b, rtol=2e-4, atol=2e-5, err_msg=f"{name}\n{text}")
    gnames = [o.name for o in graphs.gradient.graph.output]
    gfeeds = {i.name: feeds[i.name] for i in graphs.gradient.graph.input}
    ort = OrtEngine("cpu").session(graphs.gradient)(gnames, gfeeds)
    ref = Interpreter(graphs.gradient).run(gnames, gfeeds)
    # float32 rounding relative to the largest gradient (a conv bias before batch norm has a
    # gradient that is zero but for rounding)
    scale = max((float(np.max(np.abs(b))) for b in ref if np.size(b)), default=0.0)
    for name, a, b in zip(gnames, ort, ref):
        np.testing.assert_allclose(a, b, rtol=2e-4, atol=2e-5 + 1e-4 * scale, err_msg=name)

    # float64 gradients against central differences
    results = gradcheck(net, samples=3, per_param=4)
    assert all(r.ok(1e-4) for r in results), (text, [r for r in results if not r.ok(1e-4)])

    # a few steps on one fixed batch (fixed dropout masks) lower its loss
    run_grad = Interpreter(graphs.gradient).run
    run_step = Interpreter(graphs.train_step).run
    batch = {k: v for k, v in feeds.items() if k in {i.name for i in graphs.gradient.graph.input}}
    batch = {k: v for k, v in batch.items() if k not in values}
    before = float(run_grad(["loss"], {**batch, **values})[0])
    carried = {**values, **graphs.initial_state()}
    norm = 0.0
    for step in range(3):
        res = dict(
            zip(outs, run_step(outs, {**feeds, **carried, "step": np.array(step, np.int64)}))
        )
        norm = max(norm, float(res["grad_norm"]))
        carried = {k[: -len(".next")]: v for k, v in res.items() if k.endswith(".next")}
    after_values = {k: carried[k] for k in values}
    after = float(run_grad(["loss"], {**batch, **after_values})[0])
    if norm > 1e-4:
        assert after < before, (before, after, text)
