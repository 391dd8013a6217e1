"""Losses and their metrics. Each lowers to standard ops; cross-entropy and BCE work on logits."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from nnc.compiler import options as o
from nnc.compiler.builder import GraphBuilder, elem_type
from nnc.compiler.registry import Registry


@dataclass(frozen=True)
class Target:
    """What the targets of a loss look like; the data loader converts labels to this."""

    kind: str  # class_index | binary | multilabel | real
    num_classes: int | None
    output_shape: tuple[int, ...]


@dataclass(frozen=True)
class LossDef:
    name: str
    description: str
    target: Callable[[tuple[int, ...]], Target]
    # (b, output, pre-activation (act name, tensor) or None, target tensor, options) -> scalar
    lower: Callable[..., str]
    options: Mapping[str, o.Option] = field(default_factory=dict)


LOSSES: Registry[LossDef] = Registry("loss")


def _real(shape):
    return Target("real", None, tuple(shape))


def _classes(shape):
    return Target("class_index", shape[-1], tuple(shape))


def _binary(shape):
    return Target("binary" if shape[-1] == 1 else "multilabel", max(2, shape[-1]), tuple(shape))


def _mean(b: GraphBuilder, x: str) -> str:
    return b.op("ReduceMean", [x], keepdims=0)


def _mse(b, y, pre, t, **_):
    d = b.op("Sub", [y, t])
    return _mean(b, b.op("Mul", [d, d]))


def _mae(b, y, pre, t, **_):
    return _mean(b, b.op("Abs", [b.op("Sub", [y, t])]))


def _huber(b, y, pre, t, delta=1.0, **_):
    a = b.op("Abs", [b.op("Sub", [y, t])])
    quad = b.op("Min", [a, b.scalar(delta)])
    lin = b.op("Sub", [a, quad])
    q2 = b.op("Mul", [b.op("Mul", [quad, quad]), b.scalar(0.5)])
    return _mean(b, b.op("Add", [q2, b.op("Mul", [lin, b.scalar(delta)])]))


def logits_of(y: str, pre, act: str) -> str | None:
    return pre[1] if pre is not None and pre[0] == act else None


def _bce(b, y, pre, t, **_):
    # Stable form on logits z: max(z, 0) - z t + log(1 + e^-|z|); a final sigmoid is folded in.
    z = logits_of(y, pre, "sigmoid") or y
    softplus = b.op("Softplus", [b.op("Neg", [b.op("Abs", [z])])])
    per = b.op("Add", [b.op("Sub", [b.op("Relu", [z]), b.op("Mul", [z, t])]), softplus])
    return _mean(b, per)


def _cross_entropy(b, y, pre, t, **_):
    # a final softmax or log_softmax is folded into the fused loss on the logits before it
    z = logits_of(y, pre, "softmax") or logits_of(y, pre, "log_softmax") or y
    return b.op("SoftmaxCrossEntropyLoss", [z, t], reduction="mean")


def _hinge(b, y, pre, t, margin=1.0, num_classes=2, **_):
    # Multiclass SVM (Weston-Watkins): sum over j != y of max(0, s_j - s_y + margin).
    s = logits_of(y, pre, "softmax") or y
    onehot = b.one_hot(t, num_classes)
    s_y = b.op("ReduceSum", [b.op("Mul", [s, onehot]), b.ints([-1])], keepdims=1)
    margins = b.op("Relu", [b.op("Add", [b.op("Sub", [s, s_y]), b.scalar(margin)])])
    margins = b.op("Mul", [margins, b.op("Sub", [b.scalar(1.0), onehot])])
    return _mean(b, b.op("ReduceSum", [margins, b.ints([-1])], keepdims=0))


LOSSES.add("mse", LossDef("mse", "mean squared error", _real, _mse))
LOSSES.add("mae", LossDef("mae", "mean absolute error (L1)", _real, _mae))
LOSSES.add(
    "huber",
    LossDef(
        "huber",
        "quadratic within delta, linear beyond",
        _real,
        _huber,
        {"delta": o.number("where the loss turns linear", 1.0, exclusive_minimum=0)},
    ),
)
LOSSES.add(
    "binary_cross_entropy",
    LossDef(
        "binary_cross_entropy",
        "sigmoid cross-entropy per output (binary or multi-label), computed from logits; "
        "the network's output is read as logits unless its last activation is sigmoid",
        _binary,
        _bce,
    ),
)
LOSSES.add(
    "cross_entropy",
    LossDef(
        "cross_entropy",
        "softmax cross-entropy with integer or one-hot labels, fused (never Softmax -> Log); "
        "the output is read as logits unless the last activation is softmax or log_softmax",
        _classes,
        _cross_entropy,
    ),
)
LOSSES.add(
    "hinge",
    LossDef(
        "hinge",
        "multiclass SVM hinge loss on the class scores",
        _classes,
        _hinge,
        {"margin": o.number("required margin of the true class", 1.0, exclusive_minimum=0)},
    ),
)


def metrics(b: GraphBuilder, target: Target, y: str, pre, t: str) -> dict[str, str]:
    """Metrics as graph outputs: accuracy for classification, MAE for regression."""
    to = elem_type(b.dtype)
    if target.kind == "class_index":
        pred = b.op("ArgMax", [y], axis=-1, keepdims=0)
        hit = b.op("Cast", [b.op("Equal", [pred, t])], to=to)
        return {"accuracy": _mean(b, hit)}
    if target.kind in ("binary", "multilabel"):
        z = logits_of(y, pre, "sigmoid")
        pred = b.op("Greater", [z, b.scalar(0.0)]) if z else b.op("Greater", [y, b.scalar(0.5)])
        hit = b.op("Equal", [b.op("Cast", [pred], to=to), t])
        return {"accuracy": _mean(b, b.op("Cast", [hit], to=to))}
    return {"mae": _mae(b, y, pre, t)}


def loss_ref(value) -> tuple[str, dict]:
    return o.component_ref(LOSSES, value)


def loss_schema() -> dict:
    return {
        **o.name_or_mapping("loss", LOSSES),
        "description": "the training loss: a name, or {type: name, options...}",
    }


def loss_defs() -> dict:
    return o.family_defs("loss", LOSSES)
