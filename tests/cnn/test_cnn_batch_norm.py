"""Batch norm semantics: batch statistics and running-statistic updates in the train step, running
statistics at inference and in eval, frozen layers, per-feature statistics after dense."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest

from cnn.helpers import net_of, random_feeds
from nnc.compiler.graphs import inference_model, training_graphs
from nnc.runtime.interpreter import Interpreter

EPS = 1e-5
MOMENTUM = 0.9


def spec(input_shape, bn: str = "{type: batch_norm, name: bn}") -> str:
    return (
        f"input: {{shape: {list(input_shape)}}}\nlayers:\n  - {bn}\n  - {{type: flatten}}\n"
        "  - {type: dense, name: out, units: 3}\n  - {type: softmax}\nloss: cross_entropy\n"
        "optimizer: {type: sgd, lr: 0.1}\n"
    )


def engines(model):
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return {"ort": sess.run, "numpy": Interpreter(model).run}


def reference(x, gamma, beta, mean, var):
    shape = [1, -1] + [1] * (x.ndim - 2)
    r = [np.reshape(v, shape) for v in (gamma, beta, mean, var)]
    return (x - r[2]) / np.sqrt(r[3] + EPS) * r[0] + r[1]


@pytest.mark.parametrize("input_shape", [[3, 4, 5], [6]], ids=["conv", "dense"])
@pytest.mark.parametrize("engine", ["ort", "numpy"])
def test_train_step_outputs_updated_running_statistics(input_shape, engine):
    net = net_of(spec(input_shape))
    graphs = training_graphs(net)
    model = graphs.train_step
    feeds = random_feeds(net, model, graphs, n=5, seed=1)
    outs = [o.name for o in model.graph.output]
    res = dict(zip(outs, engines(model)[engine](outs, feeds)))
    x = feeds["x"].astype(np.float64)
    axes = (0, *range(2, x.ndim))
    m = x.size // x.shape[1]
    mean, var = x.mean(axis=axes), x.var(axis=axes)
    np.testing.assert_allclose(
        res["bn.running_mean.next"],
        MOMENTUM * feeds["bn.running_mean"] + (1 - MOMENTUM) * mean,
        rtol=1e-5,
        atol=1e-6,
    )
    # the running variance takes the unbiased batch variance
    np.testing.assert_allclose(
        res["bn.running_var.next"],
        MOMENTUM * feeds["bn.running_var"] + (1 - MOMENTUM) * var * m / (m - 1),
        rtol=1e-5,
        atol=1e-6,
    )
    # statistics are state: updated by the step, never by the optimizer
    assert "bn.gamma.next" in res and "bn.running_mean.velocity.next" not in res


def test_training_normalises_with_batch_statistics_and_eval_with_running_ones():
    net = net_of(spec([3, 4, 5]))
    graphs = training_graphs(net, np.float64)
    feeds = random_feeds(net, graphs.eval, graphs, n=6, seed=2, dtype=np.float64)
    x = feeds["x"]
    w, b = feeds["out.weight"], feeds["out.bias"]

    def loss_of(h):
        z = h.reshape(len(x), -1) @ w + b
        z = z - z.max(axis=1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        return -logp[np.arange(len(x)), feeds["y"]].mean()

    g, beta = feeds["bn.gamma"], feeds["bn.beta"]
    running = reference(x, g, beta, feeds["bn.running_mean"], feeds["bn.running_var"])
    batch = reference(x, g, beta, x.mean(axis=(0, 2, 3)), x.var(axis=(0, 2, 3)))

    (train_loss,) = Interpreter(graphs.gradient).run(["loss"], {**feeds})
    (eval_loss,) = Interpreter(graphs.eval).run(["loss"], feeds)
    np.testing.assert_allclose(train_loss, loss_of(batch), rtol=1e-10)
    np.testing.assert_allclose(eval_loss, loss_of(running), rtol=1e-10)
    assert abs(train_loss - eval_loss) > 1e-3  # the two modes really differ here


@pytest.mark.parametrize("engine", ["ort", "numpy"])
@pytest.mark.parametrize("input_shape", [[3, 4, 5], [6]], ids=["conv", "dense"])
def test_inference_uses_running_statistics(engine, input_shape):
    net = net_of(spec(input_shape))
    values = net.initial_values(0)
    rng = np.random.default_rng(3)
    c = input_shape[0]
    values.update(
        {
            "bn.gamma": rng.normal(1.0, 0.2, c).astype(np.float32),
            "bn.beta": rng.normal(0.0, 0.2, c).astype(np.float32),
            "bn.running_mean": rng.normal(0.0, 1.0, c).astype(np.float32),
            "bn.running_var": rng.uniform(0.5, 2.0, c).astype(np.float32),
        }
    )
    model = inference_model(net, values)
    assert "BatchNormalization" in {n.op_type for n in model.graph.node}
    x = rng.normal(size=(4, *input_shape)).astype(np.float32)
    (y,) = engines(model)[engine](["y"], {"x": x})
    h = reference(
        x.astype(np.float64),
        *(values[f"bn.{k}"] for k in ("gamma", "beta", "running_mean", "running_var")),
    )
    z = h.reshape(len(x), -1) @ values["out.weight"] + values["out.bias"]
    expect = np.exp(z - z.max(axis=1, keepdims=True))
    np.testing.assert_allclose(y, expect / expect.sum(axis=1, keepdims=True), rtol=1e-5, atol=1e-6)


def test_frozen_batch_norm_keeps_its_statistics_and_uses_them_in_training():
    net = net_of(spec([3, 4, 4], "{type: batch_norm, name: bn, trainable: false}"))
    assert [p.name for p in net.trainable()] == ["out.weight", "out.bias"]
    graphs = training_graphs(net)
    outs = {o.name for o in graphs.train_step.graph.output}
    assert not any(o.startswith("bn.") for o in outs)
    ops = {n.op_type for n in graphs.train_step.graph.node if n.name.startswith("bn/")}
    # no batch statistics: the running ones, in plain arithmetic (BatchNormalization with its
    # statistics as graph inputs is refused by some runtimes)
    assert "ReduceMean" not in ops and ops <= {"Add", "Sub", "Mul", "Div", "Sqrt", "Reshape"}
    values = net.initial_values(0, np.float64)
    rng = np.random.default_rng(3)
    values["bn.running_mean"] = rng.normal(size=3)
    values["bn.running_var"] = rng.uniform(0.5, 2.0, 3)
    x = rng.normal(size=(2, 3, 4, 4))
    g64 = training_graphs(net, np.float64)
    feeds = {"x": x, "y": np.array([0, 1]), **values}
    train = Interpreter(g64.gradient).run(["loss"], feeds)[0]
    infer = Interpreter(g64.eval).run(["loss"], feeds)[0]
    assert float(train) == pytest.approx(float(infer), rel=1e-12)
    # and it is what the deployed BatchNormalization operator computes
    y = Interpreter(inference_model(net, values, np.float64)).run(["y"], {"x": x})[0]
    assert float(infer) == pytest.approx(-np.mean(np.log(y[[0, 1], [0, 1]])), rel=1e-10)


def test_a_batch_of_one_keeps_the_running_variance_finite():
    net = net_of(spec([6]))
    graphs = training_graphs(net)
    feeds = random_feeds(net, graphs.train_step, graphs, n=1)
    outs = [o.name for o in graphs.train_step.graph.output]
    res = dict(zip(outs, Interpreter(graphs.train_step).run(outs, feeds)))
    assert np.all(np.isfinite(res["bn.running_var.next"]))


def test_options_change_the_graph():
    net = net_of(spec([2, 3, 3], "{type: batch_norm, name: bn, momentum: 0.5, epsilon: 0.1}"))
    graphs = training_graphs(net, np.float64)
    feeds = random_feeds(net, graphs.train_step, graphs, n=3, dtype=np.float64)
    outs = [o.name for o in graphs.train_step.graph.output]
    res = dict(zip(outs, Interpreter(graphs.train_step).run(outs, feeds)))
    mean = feeds["x"].mean(axis=(0, 2, 3))
    np.testing.assert_allclose(
        res["bn.running_mean.next"], 0.5 * feeds["bn.running_mean"] + 0.5 * mean
    )
    model = inference_model(net, net.initial_values(0))
    (bn,) = [n for n in model.graph.node if n.op_type == "BatchNormalization"]
    assert [a.f for a in bn.attribute if a.name == "epsilon"] == [pytest.approx(0.1)]
