"""Losses, optimizers, schedules, initializers and activations against independent NumPy
formulas. Every registry entry must have a reference here: the coverage tests at the end fail
for a new entry without one."""

import math

import numpy as np
import pytest

from nnc.compiler.activations import ACTIVATIONS
from nnc.compiler.graphs import inference_model, training_graphs
from nnc.compiler.init import INITIALIZERS
from nnc.compiler.losses import LOSSES as LOSS_DEFS
from nnc.compiler.network import Network
from nnc.compiler.optim import OPTIMIZERS as OPTIMIZER_DEFS
from nnc.compiler.schedules import SCHEDULES as SCHEDULE_DEFS
from nnc.compiler.spec.errors import SpecError
from nnc.compiler.spec.model import parse_spec
from nnc.runtime.gradcheck import gradcheck
from nnc.runtime.interpreter import Interpreter

HEAD = "input: {shape: [3]}\nlayers:\n  - {type: dense, units: 5, activation: tanh}\n"


def _net(last: str, loss: str, extra: str = "") -> Network:
    return Network(parse_spec(HEAD + last + f"loss: {loss}\n" + extra))


def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


def _log_softmax(z):
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


LOSSES = {
    "mse": ("  - {type: dense, units: 2}\n", "real", lambda z, t: np.mean((z - t) ** 2)),
    "mae": ("  - {type: dense, units: 2}\n", "real", lambda z, t: np.mean(np.abs(z - t))),
    "huber": (
        "  - {type: dense, units: 2}\n",
        "real",
        lambda z, t: np.mean(
            np.where(np.abs(z - t) <= 1.0, 0.5 * (z - t) ** 2, np.abs(z - t) - 0.5)
        ),
    ),
    "binary_cross_entropy": (
        "  - {type: dense, units: 1, activation: sigmoid}\n",
        "binary",
        lambda p, t: -np.mean(t * np.log(p) + (1 - t) * np.log(1 - p)),
    ),
    "binary_cross_entropy/multilabel": (
        "  - {type: dense, units: 4, activation: sigmoid}\n",
        "multilabel",
        lambda p, t: -np.mean(t * np.log(p) + (1 - t) * np.log(1 - p)),
    ),
    "focal": (
        "  - {type: dense, units: 1, activation: sigmoid}\n",
        "binary",
        lambda p, t: -np.mean(np.where(t == 1, (1 - p) ** 2 * np.log(p), p**2 * np.log(1 - p))),
    ),
    "focal/alpha-multilabel": (
        "  - {type: dense, units: 3}\n",
        "multilabel",
        lambda z, t: (
            -np.mean(
                np.where(
                    t == 1,
                    0.25 * (1 - _sigmoid(z)) ** 1.5 * np.log(_sigmoid(z)),
                    0.75 * _sigmoid(z) ** 1.5 * np.log(1 - _sigmoid(z)),
                )
            )
        ),
    ),
    "cross_entropy": (
        "  - {type: dense, units: 4, activation: softmax}\n",
        "class",
        lambda p, t: -np.mean(np.log(p[np.arange(len(t)), t])),
    ),
    "cross_entropy/log_softmax": (
        "  - {type: dense, units: 4, activation: log_softmax}\n",
        "class",
        lambda lp, t: -np.mean(lp[np.arange(len(t)), t]),
    ),
    "cross_entropy/logits": (
        "  - {type: dense, units: 4}\n",
        "class",
        lambda z, t: -np.mean(_log_softmax(z)[np.arange(len(t)), t]),
    ),
    "hinge": (
        "  - {type: dense, units: 4}\n",
        "class",
        lambda s, t: np.mean(
            np.sum(
                np.maximum(0, s - s[np.arange(len(t)), t][:, None] + 1)
                * (np.arange(s.shape[1]) != t[:, None]),
                axis=1,
            )
        ),
    ),
    "squared_hinge": (
        "  - {type: dense, units: 4}\n",
        "class",
        lambda s, t: np.mean(
            np.sum(
                np.maximum(0, s - s[np.arange(len(t)), t][:, None] + 1) ** 2
                * (np.arange(s.shape[1]) != t[:, None]),
                axis=1,
            )
        ),
    ),
    # one output: binary, on the input z of a final step or sign; t = 2 * target - 1
    "hinge/binary-sign": (
        "  - {type: dense, units: 1, activation: sign}\n",
        "binary",
        lambda z, t: np.mean(np.maximum(0, 1 - (2 * t - 1) * z)),
    ),
    "hinge/binary-margin": (
        "  - {type: dense, units: 1}\n",
        "binary",
        lambda z, t: np.mean(np.maximum(0, 0.5 - (2 * t - 1) * z)),
    ),
    "squared_hinge/binary-step": (
        "  - {type: dense, units: 1, activation: step}\n",
        "binary",
        lambda z, t: np.mean(np.maximum(0, 1 - (2 * t - 1) * z) ** 2),
    ),
    "perceptron": (
        "  - {type: dense, units: 1, activation: step}\n",
        "binary",
        lambda z, t: np.mean(np.maximum(0, -(2 * t - 1) * z)),
    ),
    "perceptron/multilabel-linear": (
        "  - {type: dense, units: 3}\n",
        "multilabel",
        lambda z, t: np.mean(np.maximum(0, -(2 * t - 1) * z)),
    ),
}


def _targets(kind, rng, n, width):
    if kind == "class":
        return rng.integers(0, width, n).astype(np.int64)
    if kind in ("binary", "multilabel"):
        return rng.integers(0, 2, (n, width)).astype(np.float64)
    return rng.normal(size=(n, width))


LOSS_OPTIONS = {
    "focal/alpha-multilabel": "{type: focal, gamma: 1.5, alpha: 0.25}",
    "hinge/binary-margin": "{type: hinge, margin: 0.5}",
}
THRESHOLDS = (", activation: step", ", activation: sign")


@pytest.mark.parametrize("case", sorted(LOSSES))
def test_loss_value_matches_numpy_and_gradients_check(case):
    last, kind, formula = LOSSES[case]
    net = _net(last, LOSS_OPTIONS.get(case, case.split("/")[0]))
    rng = np.random.default_rng(0)
    values = net.initial_values(0, np.float64)
    x = rng.normal(size=(6, 3))
    t = _targets(kind, rng, 6, net.output_shape[-1])
    eval_graph = training_graphs(net, np.float64).eval
    loss = Interpreter(eval_graph).run(["loss"], {"x": x, "y": t, **values})[0]
    y = Interpreter(inference_model(net, values, np.float64)).run(["y"], {"x": x})[0]
    if any(act in last for act in THRESHOLDS):
        # the loss reads the threshold's input: the same network without it gives that z
        assert set(np.unique(y)) <= {-1.0, 0.0, 1.0}
        linear = _net(last.replace(THRESHOLDS[0], "").replace(THRESHOLDS[1], ""), "mse")
        y = Interpreter(inference_model(linear, values, np.float64)).run(["y"], {"x": x})[0]
    assert float(loss) == pytest.approx(formula(y, t), rel=1e-10)
    assert all(r.ok(1e-6) for r in gradcheck(net, samples=5, per_param=6))


def test_l2_and_l1_penalties_exclude_biases():
    net = _net("  - {type: dense, units: 2}\n", "mse", "regularization: {l2: 0.1, l1: 0.01}\n")
    plain = _net("  - {type: dense, units: 2}\n", "mse")
    values = net.initial_values(0, np.float64)
    feeds = {"x": np.ones((2, 3)), "y": np.zeros((2, 2)), **values}
    with_reg = Interpreter(training_graphs(net, np.float64).eval).run(["loss"], feeds)[0]
    without = Interpreter(training_graphs(plain, np.float64).eval).run(["loss"], feeds)[0]
    ws = [values[p.name] for p in net.params if p.role == "weight"]
    expect = 0.05 * sum((w**2).sum() for w in ws) + 0.01 * sum(np.abs(w).sum() for w in ws)
    assert float(with_reg - without) == pytest.approx(expect, rel=1e-12)


# -- optimizers: the train-step update against NumPy's own implementation --------------------
def _numpy_update(kind, opts, p, g, s, t, lr):
    if kind == "sgd":
        mu, nest = opts.get("momentum", 0.0), opts.get("nesterov", False)
        if not mu:
            return p - lr * g, s
        v = mu * s.get("velocity", 0) + g
        return p - lr * ((g + mu * v) if nest else v), {"velocity": v}
    if kind == "adagrad":
        acc = s.get("accumulator", 0) + g * g
        return p - lr * g / (np.sqrt(acc) + 1e-10), {"accumulator": acc}
    if kind == "rmsprop":
        sq = 0.99 * s.get("square_avg", 0) + 0.01 * g * g
        return p - lr * g / (np.sqrt(sq) + 1e-8), {"square_avg": sq}
    if kind == "lion":
        b1, b2, wd = opts.get("beta1", 0.9), opts.get("beta2", 0.99), opts.get("weight_decay", 0)
        m = s.get("m", 0)
        step = np.sign(b1 * m + (1 - b1) * g) + wd * p
        return p - lr * step, {"m": b2 * m + (1 - b2) * g}
    b1, b2, eps = 0.9, 0.999, 1e-8
    if kind == "adamw":
        p = p * (1 - lr * opts.get("weight_decay", 0.01))
    m = b1 * s.get("m", 0) + (1 - b1) * g
    v = b2 * s.get("v", 0) + (1 - b2) * g * g
    mhat, vhat = m / (1 - b1**t), v / (1 - b2**t)
    return p - lr * mhat / (np.sqrt(vhat) + eps), {"m": m, "v": v}


OPTIMIZERS = {
    "sgd": "{type: sgd, lr: 0.1}",
    "sgd-momentum": "{type: sgd, lr: 0.1, momentum: 0.9}",
    "sgd-nesterov": "{type: sgd, lr: 0.1, momentum: 0.9, nesterov: true}",
    "adagrad": "{type: adagrad, lr: 0.1}",
    "rmsprop": "{type: rmsprop, lr: 0.01}",
    "adam": "{type: adam, lr: 0.01}",
    "adamw": "{type: adamw, lr: 0.01, weight_decay: 0.1}",
    "lion": "{type: lion, lr: 0.01}",
    "lion-decay": "{type: lion, lr: 0.01, beta1: 0.8, beta2: 0.9, weight_decay: 0.5}",
}


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_optimizer_steps_match_numpy(name):
    import yaml

    net = _net("  - {type: dense, units: 2}\n", "mse", f"optimizer: {OPTIMIZERS[name]}\n")
    opt = yaml.safe_load(OPTIMIZERS[name])
    graphs = training_graphs(net, np.float64)
    step_run = Interpreter(graphs.train_step).run
    grad_run = Interpreter(graphs.gradient).run
    rng = np.random.default_rng(1)
    values = net.initial_values(0, np.float64)
    state = graphs.initial_state(np.float64)
    ref_p = {p.name: values[p.name].copy() for p in net.trainable()}
    ref_s = {p.name: {} for p in net.trainable()}
    outs = [o.name for o in graphs.train_step.graph.output]
    for step in range(5):
        x, y = rng.normal(size=(4, 3)), rng.normal(size=(4, 2))
        grads = grad_run(None, {"x": x, "y": y, **values})
        gnames = [o.name for o in graphs.gradient.graph.output]
        g = dict(zip(gnames, grads))
        feeds = {"x": x, "y": y, "step": np.array(step, np.int64), "lr": np.array(opt["lr"])}
        res = dict(zip(outs, step_run(None, {**feeds, **values, **state})))
        for p in net.trainable():
            ref_p[p.name], ref_s[p.name] = _numpy_update(
                opt["type"],
                opt,
                ref_p[p.name],
                g[f"grad.{p.name}"],
                ref_s[p.name],
                step + 1,
                opt["lr"],
            )
            np.testing.assert_allclose(res[p.name + ".next"], ref_p[p.name], rtol=1e-12, atol=1e-14)
        values = {**values, **{p.name: res[p.name + ".next"] for p in net.trainable()}}
        state = {s: res[s + ".next"] for s in graphs.state_names}


def test_clip_norm_and_weight_decay():
    net = _net(
        "  - {type: dense, units: 2}\n",
        "mse",
        "optimizer: {type: sgd, lr: 1.0, clip_norm: 0.01, weight_decay: 0.5}\n",
    )
    graphs = training_graphs(net, np.float64)
    values = net.initial_values(0, np.float64)
    x, y = np.ones((2, 3)), np.full((2, 2), 10.0)
    g = dict(
        zip(
            [o.name for o in graphs.gradient.graph.output],
            Interpreter(graphs.gradient).run(None, {"x": x, "y": y, **values}),
        )
    )
    feeds = {"x": x, "y": y, "step": np.array(0, np.int64), "lr": np.array(1.0), **values}
    res = dict(
        zip(
            [o.name for o in graphs.train_step.graph.output],
            Interpreter(graphs.train_step).run(None, feeds),
        )
    )
    norm = np.sqrt(sum((g[f"grad.{p.name}"] ** 2).sum() for p in net.trainable()))
    assert res["grad_norm"] == pytest.approx(norm)
    for p in net.trainable():
        clipped = g[f"grad.{p.name}"] * 0.01 / norm
        expect = values[p.name] - (clipped + 0.5 * values[p.name])
        np.testing.assert_allclose(res[p.name + ".next"], expect, rtol=1e-12)


@pytest.mark.parametrize("opt", ["{type: sgd, lr: 10.0}", "{type: adam, lr: 10.0}"])
def test_max_norm_constrains_each_unit(opt):
    # adam: the small parameters share one fused flat update, split back before the constraint
    net = _net(
        "  - {type: dense, units: 2}\n",
        "mse",
        f"optimizer: {opt}\nregularization: {{max_norm: 0.5}}\n",
    )
    graphs = training_graphs(net, np.float64)
    values = net.initial_values(0, np.float64)
    feeds = {
        "x": np.ones((2, 3)),
        "y": np.full((2, 2), 50.0),
        "step": np.array(0, np.int64),
        "lr": np.array(10.0),
        **values,
        **graphs.initial_state(np.float64),
    }
    res = dict(
        zip(
            [o.name for o in graphs.train_step.graph.output],
            Interpreter(graphs.train_step).run(None, feeds),
        )
    )
    for p in net.trainable():
        if p.role == "weight":
            norms = np.sqrt((res[p.name + ".next"] ** 2).sum(axis=0))
            assert np.all(norms <= 0.5 + 1e-6) and np.any(norms > 0.49)


# -- schedules --------------------------------------------------------------------------------
SCHEDULES = {
    "{type: constant}": lambda t: 0.1,
    "{type: step, step_size: 3, gamma: 0.5}": lambda t: 0.1 * 0.5 ** (t // 3),
    "{type: multistep, milestones: [2, 5], gamma: 0.1}": lambda t: (
        0.1 * 0.1 ** ((t >= 2) + (t >= 5))
    ),
    "{type: exponential, decay_steps: 4, decay_rate: 0.5}": lambda t: 0.1 * 0.5 ** (t / 4),
    "{type: exponential, decay_steps: 4, decay_rate: 0.5, staircase: true}": lambda t: (
        0.1 * 0.5 ** (t // 4)
    ),
    "{type: inverse_time, decay_rate: 0.5}": lambda t: 0.1 / (1 + 0.5 * t),
    "{type: cosine, decay_steps: 6, min_lr: 0.01}": lambda t: (
        0.01 + 0.5 * (0.1 - 0.01) * (1 + np.cos(np.pi * min(t, 6) / 6))
    ),
    "{type: constant, warmup: 4}": lambda t: 0.1 * min(1.0, (t + 1) / 4),
    "{type: step, step_size: 2, gamma: 0.5, unit: epoch}": lambda t: 0.1 * 0.5 ** (t // 6),
}


@pytest.mark.parametrize("sched", sorted(SCHEDULES))
def test_schedule_in_graph(sched):
    net = _net(
        "  - {type: dense, units: 2}\n",
        "mse",
        f"optimizer: {{type: sgd, lr: 0.1, schedule: {sched}}}\n",
    )
    graphs = training_graphs(net, np.float64, steps_per_epoch=3)
    run = Interpreter(graphs.train_step).run
    values = net.initial_values(0, np.float64)
    for t in range(10):
        feeds = {
            "x": np.ones((1, 3)),
            "y": np.zeros((1, 2)),
            "step": np.array(t, np.int64),
            "lr": np.array(0.1),
            **values,
        }
        lr = run(["lr_used"], feeds)[0]
        assert float(lr) == pytest.approx(SCHEDULES[sched](t), rel=1e-12), t


# -- initializers -----------------------------------------------------------------------------
INITIALIZER_CHECKS = [
    (
        "glorot_uniform",
        lambda w: abs(w.max()) <= np.sqrt(6 / 600) and w.var() == pytest.approx(2 / 600, rel=0.05),
    ),
    ("glorot_normal", lambda w: w.std() == pytest.approx(np.sqrt(2 / 600), rel=0.05)),
    (
        "he_uniform",
        lambda w: abs(w).max() <= np.sqrt(6 / 400) and w.var() == pytest.approx(2 / 400, rel=0.05),
    ),
    ("he_normal", lambda w: w.std() == pytest.approx(np.sqrt(2 / 400), rel=0.05)),
    (
        "{type: uniform, limit: 0.3}",
        lambda w: abs(w).max() <= 0.3 and w.var() == pytest.approx(0.03, rel=0.05),
    ),
    ("{type: normal, stddev: 0.2}", lambda w: w.std() == pytest.approx(0.2, rel=0.05)),
    ("zeros", lambda w: not w.any()),
    ("ones", lambda w: np.all(w == 1.0)),
    ("lecun_normal", lambda w: w.std() == pytest.approx(np.sqrt(1 / 400), rel=0.05)),
    # [400, 200]: orthonormal columns
    ("orthogonal", lambda w: np.allclose(w.T @ w, np.eye(200), atol=1e-10)),
    ("{type: orthogonal, gain: 2.0}", lambda w: np.allclose(w.T @ w, 4 * np.eye(200))),
]


@pytest.mark.parametrize("init, check", INITIALIZER_CHECKS)
def test_initializer_statistics(init, check):
    spec = parse_spec(
        f"input: {{shape: [400]}}\nlayers:\n  - {{type: dense, units: 200, init: {init}}}\n"
    )
    w = Network(spec).initial_values(0, np.float64)["dense_0.weight"]
    assert w.shape == (400, 200) and check(w)


def test_initial_values_are_seeded_per_parameter():
    a = _net("  - {type: dense, units: 2}\n", "mse").initial_values(3)
    b = Network(
        parse_spec(HEAD + "  - {type: dense, units: 2}\n  - {type: dense, units: 7}\nloss: mse\n")
    )
    assert np.array_equal(a["dense_0.weight"], b.initial_values(3)["dense_0.weight"])


# -- activations ------------------------------------------------------------------------------
_erf = np.vectorize(math.erf)


def _softmax(z):
    return np.exp(_log_softmax(z))


ACTIVATION_REFS = {
    "linear": lambda z: z,
    "sigmoid": _sigmoid,
    "tanh": np.tanh,
    "relu": lambda z: np.maximum(z, 0.0),
    # ONNX stores float attributes in float32
    "leaky_relu": lambda z: np.where(z > 0, z, float(np.float32(0.01)) * z),
    "leaky_relu/alpha": lambda z: np.where(z > 0, z, float(np.float32(0.2)) * z),
    "elu": lambda z: np.where(z > 0, z, np.expm1(z)),
    "softplus": lambda z: np.log1p(np.exp(z)),
    "softmax": _softmax,
    "log_softmax": _log_softmax,
    "step": lambda z: (z > 0).astype(z.dtype),
    "swish": lambda z: z * _sigmoid(z),
    "gelu": lambda z: 0.5 * z * (1 + _erf(z / np.sqrt(2))),
    "gelu/tanh": lambda z: 0.5 * z * (1 + np.tanh(np.sqrt(2 / np.pi) * (z + 0.044715 * z**3))),
    # ONNX's Selu defaults are these float32 values
    "selu": lambda z: (
        1.05070102214813232421875
        * np.where(z > 0, z, 1.67326319217681884765625 * np.expm1(np.minimum(z, 0)))
    ),
    "hard_sigmoid": lambda z: np.clip(float(np.float32(0.2)) * z + 0.5, 0.0, 1.0),
    "hard_sigmoid/pytorch": lambda z: np.clip(float(np.float32(1 / 6)) * z + 0.5, 0.0, 1.0),
    "softsign": lambda z: z / (1 + np.abs(z)),
    "sin": np.sin,
    "cos": np.cos,
    "sign": lambda z: np.where(z > 0, 1.0, -1.0),
}
ACTIVATION_OPTIONS = {
    "leaky_relu/alpha": "alpha: 0.2",
    "gelu/tanh": "approximate: tanh",
    "hard_sigmoid/pytorch": "alpha: 0.16666666666666666",
}


@pytest.mark.parametrize("case", sorted(ACTIVATION_REFS))
def test_activation_matches_numpy_and_gradients_check(case):
    name = case.split("/")[0]
    opts = ACTIVATION_OPTIONS.get(case)
    act = f"{{type: {name}, {opts}}}" if opts else name
    trains = ACTIVATIONS[name].differentiable  # a threshold has no loss to train it with here
    net = Network(
        parse_spec(
            "input: {shape: [3]}\nlayers:\n"
            f"  - {{type: dense, units: 4, activation: {act}}}\n"
            + ("loss: mse\n" if trains else "")
        )
    )
    values = net.initial_values(0, np.float64)
    x = np.random.default_rng(0).normal(size=(5, 3)) * 2.0
    z = x @ values["dense_0.weight"] + values["dense_0.bias"]
    y = Interpreter(inference_model(net, values, np.float64)).run(["y"], {"x": x})[0]
    np.testing.assert_allclose(y, ACTIVATION_REFS[case](z), rtol=1e-12, atol=1e-14)
    if trains:
        assert all(r.ok(1e-6) for r in gradcheck(net, samples=5, per_param=6))


# -- coverage: a new registry entry cannot escape its reference -----------------------------
def _bases(keys) -> set[str]:
    return {k.split("/")[0].split("-")[0] for k in keys}


def test_every_loss_has_a_reference_formula():
    assert set(LOSS_DEFS.names()) <= _bases(LOSSES), set(LOSS_DEFS.names()) - _bases(LOSSES)


def test_every_optimizer_has_a_reference_update():
    assert set(OPTIMIZER_DEFS.names()) <= _bases(OPTIMIZERS)


def test_every_schedule_has_a_reference_formula():
    import yaml

    covered = {yaml.safe_load(k)["type"] for k in SCHEDULES}
    assert set(SCHEDULE_DEFS.names()) <= covered, set(SCHEDULE_DEFS.names()) - covered


def test_every_initializer_has_a_reference_check():
    import yaml

    covered = set()
    for init, _ in INITIALIZER_CHECKS:
        value = yaml.safe_load(init)
        covered.add(value if isinstance(value, str) else value["type"])
    assert set(INITIALIZERS.names()) <= covered, set(INITIALIZERS.names()) - covered


def test_every_activation_has_a_reference_formula():
    assert set(ACTIVATIONS.names()) <= _bases(ACTIVATION_REFS)


def test_orthogonal_rows_when_wider_and_refused_for_vectors():
    wide = parse_spec(
        "input: {shape: [5]}\nlayers:\n  - {type: dense, units: 9, init: orthogonal}\n"
    )
    w = Network(wide).initial_values(0, np.float64)["dense_0.weight"]
    assert np.allclose(w @ w.T, np.eye(5), atol=1e-12)
    bad = "input: {shape: [5]}\nlayers:\n  - {type: dense, units: 9, bias_init: orthogonal}\n"
    with pytest.raises(SpecError, match=r"layers\[0\]\.bias_init: orthogonal needs .*rank >= 2"):
        Network(parse_spec(bad))


def test_binary_cross_entropy_gradient_at_zero_logits():
    """Issue case: one dense unit from zeros; the stable form's pieces have corners at z = 0,
    where per-op rules gave dW = db = -0.5; the truth is sigmoid(0) - t averaged: 0.25 and 0."""
    net = Network(
        parse_spec(
            "input: {shape: [1]}\nlayers:\n  - {type: dense, units: 1, init: zeros}\n"
            "loss: binary_cross_entropy\n"
        )
    )
    values = net.initial_values(0, np.float64)
    feeds = {"x": np.array([[1.0], [2.0]]), "y": np.array([[1.0], [0.0]]), **values}
    dw, db = Interpreter(training_graphs(net, np.float64).gradient).run(
        ["grad.dense_0.weight", "grad.dense_0.bias"], feeds
    )
    assert float(dw.ravel()[0]) == pytest.approx(0.25) and float(db[0]) == pytest.approx(0.0)


@pytest.mark.parametrize("act", ["step", "sign"])
def test_perceptron_gradient_at_zero_is_the_rule(act):
    """At z = 0 the prediction is 0 (step) or -1 (sign): a positive target there is a mistake
    (dz = -1), a zero target is not (dz = 0). Per-op rules would give relu'(0) = 0 for both."""
    net = Network(
        parse_spec(
            "input: {shape: [2]}\nlayers:\n"
            f"  - {{type: dense, units: 1, init: zeros, activation: {act}}}\nloss: perceptron\n"
        )
    )
    values = net.initial_values(0, np.float64)
    x = np.array([[1.0, 2.0], [3.0, 4.0]])
    feeds = {"x": x, "y": np.array([[1.0], [0.0]]), **values}
    dw, db = Interpreter(training_graphs(net, np.float64).gradient).run(
        ["grad.dense_0.weight", "grad.dense_0.bias"], feeds
    )
    np.testing.assert_array_equal(dw.ravel(), -x[0] / 2)  # mean over the two samples
    assert float(db[0]) == -0.5


@pytest.mark.parametrize(
    ("loss", "act"),
    [("perceptron", "sigmoid"), ("hinge", "sigmoid"), ("squared_hinge", "sigmoid")],
)
def test_losses_deciding_at_zero_refuse_outputs_never_below_zero(loss, act):
    spec = HEAD + f"  - {{type: dense, units: 1, activation: {act}}}\nloss: {loss}\n"
    with pytest.raises(SpecError, match=f"loss: {loss} decides on scores above 0, and a {act}"):
        Network(parse_spec(spec))


@pytest.mark.parametrize(
    ("body", "loss", "width"),
    [
        # sigmoid, then layers that are the identity (or a reshape) at inference
        (
            "  - {type: dense, units: 2, activation: sigmoid}\n  - {type: dropout, rate: 0.0}\n",
            "binary_cross_entropy",
            2,
        ),
        (
            "  - {type: dense, units: 2, activation: sigmoid}\n  - {type: flatten}\n",
            "binary_cross_entropy",
            2,
        ),
        (
            "  - {type: dense, units: 4}\n  - {type: softmax}\n  - {type: reshape, shape: [4]}\n"
            "  - {type: dropout, rate: 0.0}\n",
            "cross_entropy",
            4,
        ),
    ],
)
def test_losses_read_the_logits_through_transparent_layers(body, loss, width):
    """A sigmoid or softmax before a dropout/flatten/reshape is still read as logits: the loss
    equals the formula on the probabilities (it would not if the probabilities were read as
    logits), and its gradient checks."""
    net = Network(parse_spec(HEAD + body + f"loss: {loss}\n"))
    values = net.initial_values(0, np.float64)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(6, 3))
    kind = "binary" if loss == "binary_cross_entropy" else "class"
    t = _targets(kind, rng, 6, width)
    p = Interpreter(inference_model(net, values, np.float64)).run(["y"], {"x": x})[0]
    got = Interpreter(training_graphs(net, np.float64).eval).run(
        ["loss"], {"x": x, "y": t, **values}
    )
    if kind == "binary":
        expect = -np.mean(t * np.log(p) + (1 - t) * np.log(1 - p))
    else:
        expect = -np.mean(np.log(p[np.arange(6), t]))
    assert float(got[0]) == pytest.approx(expect, rel=1e-10)
    assert all(r.ok(1e-6) for r in gradcheck(net, samples=5, per_param=6))


def test_dropout_between_a_sigmoid_output_and_its_loss_is_refused():
    spec = HEAD + (
        "  - {type: dense, units: 1, activation: sigmoid}\n  - {type: dropout, rate: 0.3}\n"
        "loss: binary_cross_entropy\n"
    )
    with pytest.raises(SpecError, match=r"layers\[2\]: binary_cross_entropy reads the logits"):
        Network(parse_spec(spec))
