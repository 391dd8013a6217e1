"""Activation functions, each lowered to standard ONNX ops with gradient rules (but the
thresholds `step` and `sign`)."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from nnc.compiler import options as o
from nnc.compiler.builder import GraphBuilder
from nnc.compiler.registry import Registry


@dataclass(frozen=True)
class Activation:
    name: str
    description: str
    lower: Callable[..., str]
    options: Mapping[str, o.Option] = field(default_factory=dict)
    # softmax-like activations normalise over the last axis, which must have more than one value
    over_last_axis: bool = False
    differentiable: bool = True


ACTIVATIONS: Registry[Activation] = Registry("activation")


def _act(name, description, lower, options=None, **kw) -> None:
    ACTIVATIONS.add(name, Activation(name, description, lower, options or {}, **kw))


def _step(b: GraphBuilder, x: str) -> str:
    return b.op("Cast", [b.op("Greater", [x, b.scalar(0.0)])], to=_to(b))


def _sign(b: GraphBuilder, x: str) -> str:
    return b.op("Where", [b.op("Greater", [x, b.scalar(0.0)]), b.scalar(1.0), b.scalar(-1.0)])


def _hard_sigmoid(b: GraphBuilder, x: str, alpha: float = 0.2, beta: float = 0.5) -> str:
    return b.op("HardSigmoid", [x], alpha=float(alpha), beta=float(beta))


def _to(b: GraphBuilder) -> int:
    from nnc.compiler.builder import elem_type

    return elem_type(b.dtype)


_act("linear", "identity: f(x) = x", lambda b, x: x)
_act("sigmoid", "logistic sigmoid 1 / (1 + e^-x)", lambda b, x: b.op("Sigmoid", [x]))
_act("tanh", "hyperbolic tangent", lambda b, x: b.op("Tanh", [x]))
_act("relu", "max(0, x)", lambda b, x: b.op("Relu", [x]))
_act(
    "leaky_relu",
    "x if x > 0 else alpha * x",
    lambda b, x, alpha=0.01: b.op("LeakyRelu", [x], alpha=float(alpha)),
    {"alpha": o.number("slope for x < 0", 0.01, minimum=0)},
)
_act(
    "elu",
    "x if x > 0 else alpha * (e^x - 1)",
    lambda b, x, alpha=1.0: b.op("Elu", [x], alpha=float(alpha)),
    {"alpha": o.number("scale of the negative part", 1.0, minimum=0)},
)
_act("softplus", "log(1 + e^x)", lambda b, x: b.op("Softplus", [x]))
_act(
    "softmax",
    "normalised exponentials over the last axis",
    lambda b, x: b.op("Softmax", [x], axis=-1),
    over_last_axis=True,
)
_act(
    "log_softmax",
    "log of softmax over the last axis",
    lambda b, x: b.op("LogSoftmax", [x], axis=-1),
    over_last_axis=True,
)
_act("swish", "x * sigmoid(x) (SiLU)", lambda b, x: b.op("Mul", [x, b.op("Sigmoid", [x])]))


def _gelu(b: GraphBuilder, x: str, approximate: str = "none") -> str:
    if approximate == "tanh":  # 0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3)))
        cube = b.op("Mul", [b.op("Mul", [x, x]), x])
        inner = b.op("Add", [x, b.op("Mul", [cube, b.scalar(0.044715)])])
        gate = b.op("Tanh", [b.op("Mul", [inner, b.scalar(math.sqrt(2.0 / math.pi))])])
    else:  # 0.5 x (1 + erf(x / sqrt(2)))
        gate = b.op("Erf", [b.op("Mul", [x, b.scalar(1.0 / math.sqrt(2.0))])])
    return b.op("Mul", [b.op("Mul", [x, b.scalar(0.5)]), b.op("Add", [gate, b.scalar(1.0)])])


_act(
    "gelu",
    "x * Phi(x), Phi the standard normal CDF (Hendrycks & Gimpel)",
    _gelu,
    {"approximate": o.choice("'tanh' for the tanh approximation", ["none", "tanh"], "none")},
)
_act(
    "selu",
    "scaled ELU (Klambauer et al.): gamma x if x > 0 else gamma alpha (e^x - 1), with ONNX's "
    "alpha 1.67326 and gamma 1.05070, for self-normalising networks (lecun_normal weights)",
    lambda b, x: b.op("Selu", [x]),
)
_act(
    "hard_sigmoid",
    "max(0, min(1, alpha x + beta)); ONNX's and Keras 2's alpha 0.2 by default (PyTorch's "
    "Hardsigmoid has alpha 1/6)",
    _hard_sigmoid,
    {
        "alpha": o.number("slope", 0.2, exclusive_minimum=0),
        "beta": o.number("value at x = 0", 0.5),
    },
)
_act("softsign", "x / (1 + |x|)", lambda b, x: b.op("Softsign", [x]))
_act("sin", "sine (periodic activations, SIREN)", lambda b, x: b.op("Sin", [x]))
_act("cos", "cosine", lambda b, x: b.op("Cos", [x]))
_act(
    "step",
    "threshold unit: 1 if x > 0 else 0 (the perceptron's). Not differentiable: as the output's "
    "last activation it trains with a loss that reads through it (perceptron, hinge or "
    "squared_hinge on one output), which then reads its input",
    _step,
    differentiable=False,
)
_act(
    "sign",
    "bipolar threshold unit: +1 if x > 0 else -1. Not differentiable: trains as step does",
    _sign,
    differentiable=False,
)


def activation_ref(value) -> tuple[str, dict]:
    """`relu` or `{type: leaky_relu, alpha: 0.2}` -> (name, options with defaults)."""
    return o.component_ref(ACTIVATIONS, value)


def activation_schema() -> dict:
    return o.name_or_mapping("activation", ACTIVATIONS)


def activation_defs() -> dict:
    return o.family_defs("activation", ACTIVATIONS)
