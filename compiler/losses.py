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
    signed: bool = False  # binary targets may also be written -1/+1 (the loader maps -1 to 0)


@dataclass(frozen=True)
class LossDef:
    """A loss and its policy: which final activations it reads through, what it needs of the
    output, and which activations it cannot follow. Shared code reads these fields; it never
    tests a loss's name."""

    name: str
    description: str
    target: Callable[[tuple[int, ...]], Target]
    # (b, scores, targets, *, num_classes, **options) -> scalar tensor; `scores` is the input of
    # a final activation named in reads_through, else the network's output
    lower: Callable[..., str]
    options: Mapping[str, o.Option] = field(default_factory=dict)
    reads_through: tuple[str, ...] = ()
    min_classes: int = 1  # the output's last axis needs at least this many values
    few_classes_hint: str = ""  # what to use instead when it has fewer
    refuses_after: Mapping[str, str] = field(default_factory=dict)  # final activation -> why
    # binary and multi-label decisions: the score above which a label is 1 (0 on logits)
    threshold: float = 0.0
    # the policy for a network with a single output, where it differs (hinge: binary there)
    one_output: LossDef | None = None

    def for_output(self, shape: tuple[int, ...]) -> LossDef:
        """The policy for a network whose output has this per-sample shape."""
        if self.one_output is not None and shape[-1] == 1:
            return self.one_output
        return self


LOSSES: Registry[LossDef] = Registry("loss")


def scores(ldef: LossDef, y: str, pre: tuple[str, str] | None) -> str:
    """The tensor a loss reads: the logits before a final activation it reads through, else y."""
    if pre is not None and pre[0] in ldef.reads_through:
        return pre[1]
    return y


def _real(shape):
    return Target("real", None, tuple(shape))


def _classes(shape):
    return Target("class_index", shape[-1], tuple(shape))


def _binary(shape):
    return Target("binary" if shape[-1] == 1 else "multilabel", max(2, shape[-1]), tuple(shape))


def _signed_binary(shape):
    return Target(
        "binary" if shape[-1] == 1 else "multilabel", max(2, shape[-1]), tuple(shape), signed=True
    )


def _mean(b: GraphBuilder, x: str) -> str:
    return b.op("ReduceMean", [x], keepdims=0)


def _mse(b, y, t, **_):
    d = b.op("Sub", [y, t])
    return _mean(b, b.op("Mul", [d, d]))


def _mae(b, y, t, **_):
    return _mean(b, b.op("Abs", [b.op("Sub", [y, t])]))


def _huber(b, y, t, delta=1.0, **_):
    a = b.op("Abs", [b.op("Sub", [y, t])])
    quad = b.op("Min", [a, b.scalar(delta)])
    lin = b.op("Sub", [a, quad])
    q2 = b.op("Mul", [b.op("Mul", [quad, quad]), b.scalar(0.5)])
    return _mean(b, b.op("Add", [q2, b.op("Mul", [lin, b.scalar(delta)])]))


def _bce(b, z, t, **_):
    # Stable form on logits z: max(z, 0) - z t + log(1 + e^-|z|). Smooth as a whole, but its
    # pieces have corners at z = 0 (relu, abs), where per-op rules would give -t instead of
    # sigmoid(0) - t: the region takes the hand-derived rule dz = sigmoid(z) - t instead.
    start = len(b.nodes)
    softplus = b.op("Softplus", [b.op("Neg", [b.op("Abs", [z])])])
    per = b.op("Add", [b.op("Sub", [b.op("Relu", [z]), b.op("Mul", [z, t])]), softplus])
    b.mark_region("SigmoidCrossEntropy", start, [z, t], [per])
    return _mean(b, per)


def _cross_entropy(b, z, t, num_classes=2, **_):
    # -log softmax(z)[t] from LogSoftmax and a one-hot product: every runtime has these (tract
    # lacks SoftmaxCrossEntropyLoss); the region's rule gives the fused gradient softmax - onehot
    start = len(b.nodes)
    logp = b.op("LogSoftmax", [z], axis=-1)
    onehot = b.one_hot(t, num_classes)
    picked = b.op("ReduceSum", [b.op("Mul", [logp, onehot]), b.ints([-1])], keepdims=0)
    per = b.op("Neg", [picked])
    b.mark_region(
        "SoftmaxCrossEntropy", start, [z, t], [per], saved={"logp": logp, "onehot": onehot}
    )
    return _mean(b, per)


def _hinge(b, s, t, margin=1.0, num_classes=2, squared=False, **_):
    # Multiclass SVM (Weston-Watkins): sum over j != y of max(0, s_j - s_y + margin) (squared).
    onehot = b.one_hot(t, num_classes)
    s_y = b.op("ReduceSum", [b.op("Mul", [s, onehot]), b.ints([-1])], keepdims=1)
    margins = b.op("Relu", [b.op("Add", [b.op("Sub", [s, s_y]), b.scalar(margin)])])
    margins = b.op("Mul", [margins, b.op("Sub", [b.scalar(1.0), onehot])])
    if squared:
        margins = b.op("Mul", [margins, margins])
    return _mean(b, b.op("ReduceSum", [margins, b.ints([-1])], keepdims=0))


def _bipolar(b: GraphBuilder, t: str) -> str:
    """Targets 0/1 as -1/+1."""
    return b.op("Sub", [b.op("Mul", [t, b.scalar(2.0)]), b.scalar(1.0)])


def _binary_hinge(b, z, t, margin=1.0, squared=False, **_):
    # max(0, margin - t z) per output, t = +-1 (squared: its square, smooth at the corner)
    per = b.op("Relu", [b.op("Sub", [b.scalar(margin), b.op("Mul", [z, _bipolar(b, t)])])])
    return _mean(b, b.op("Mul", [per, per]) if squared else per)


def _squared_hinge(b, s, t, **kw):
    return _hinge(b, s, t, squared=True, **kw)


def _binary_squared_hinge(b, z, t, **kw):
    return _binary_hinge(b, z, t, squared=True, **kw)


def _perceptron(b, z, t, **_):
    # Rosenblatt's criterion max(0, -t z), t = +-1. Its corner z = 0 is where the perceptron's
    # decision flips: the region takes the rule's gradient there (-t on a mistake, step(z) !=
    # target, else 0), which per-op rules (relu'(0) = 0) would miss for a positive target.
    start = len(b.nodes)
    per = b.op("Relu", [b.op("Neg", [b.op("Mul", [z, _bipolar(b, t)])])])
    b.mark_region("Perceptron", start, [z, t], [per])
    return _mean(b, per)


def _focal(b, z, t, gamma=2.0, alpha=None, **_):
    # Lin et al.'s focal loss on logits z, stable: with z_t = z (2t - 1),
    # -log p_t = softplus(-z_t) and 1 - p_t = sigmoid(-z_t); gamma 0 without alpha is BCE
    sign = b.op("Sub", [b.op("Mul", [t, b.scalar(2.0)]), b.scalar(1.0)])
    minus_zt = b.op("Neg", [b.op("Mul", [z, sign])])
    per = b.op("Softplus", [minus_zt])
    if gamma:
        weight = b.op("Pow", [b.op("Sigmoid", [minus_zt]), b.scalar(float(gamma))])
        per = b.op("Mul", [per, weight])
    if alpha is not None:  # alpha for positives, 1 - alpha for negatives
        alpha_t = b.op("Add", [b.op("Mul", [t, b.scalar(2 * alpha - 1.0)]), b.scalar(1 - alpha)])
        per = b.op("Mul", [per, alpha_t])
    return _mean(b, per)


_PROBABILITIES = {
    act: "binary_cross_entropy after {act}: use cross_entropy for softmax outputs, "
    "or a sigmoid output".replace("{act}", act)
    for act in ("softmax", "log_softmax")
}

LOSSES.add(
    "mse",
    LossDef("mse", "mean squared error, averaged over samples and outputs", _real, _mse),
)
LOSSES.add(
    "mae",
    LossDef(
        "mae",
        "mean absolute error (L1), averaged over samples and outputs; gradient 0 where an "
        "output equals its target",
        _real,
        _mae,
    ),
)
LOSSES.add(
    "huber",
    LossDef(
        "huber",
        "0.5 a^2 where |a| <= delta, delta (|a| - delta / 2) beyond, for a = output - target "
        "(PyTorch's HuberLoss, Keras' Huber); averaged over samples and outputs",
        _real,
        _huber,
        {"delta": o.number("where the loss turns linear", 1.0, exclusive_minimum=0)},
    ),
)
LOSSES.add(
    "binary_cross_entropy",
    LossDef(
        "binary_cross_entropy",
        "sigmoid cross-entropy per output (binary or multi-label), computed from logits and "
        "averaged over samples and outputs; the network's output is read as logits unless its "
        "last activation is sigmoid (also behind dropout rate 0, flatten or reshape)",
        _binary,
        _bce,
        reads_through=("sigmoid",),
        refuses_after=_PROBABILITIES,
    ),
)
LOSSES.add(
    "focal",
    LossDef(
        "focal",
        "sigmoid focal loss (Lin et al.) per output, binary or multi-label: cross-entropy "
        "down-weighted by (1 - p_t)^gamma on well-classified outputs; read from logits unless "
        "the last activation is sigmoid",
        _binary,
        _focal,
        {
            "gamma": o.number("focusing exponent (0: plain cross-entropy)", 2.0, minimum=0),
            "alpha": o.number(
                "weight of the positive class (1 - alpha for negatives); default: none",
                None,
                minimum=0,
                maximum=1,
            ),
        },
        reads_through=("sigmoid",),
        refuses_after={
            act: f"focal after {act}: use cross_entropy for softmax outputs, or a sigmoid output"
            for act in ("softmax", "log_softmax")
        },
    ),
)
LOSSES.add(
    "cross_entropy",
    LossDef(
        "cross_entropy",
        "softmax cross-entropy with integer or one-hot labels, fused (never Softmax -> Log), "
        "averaged over samples; the output is read as logits unless the last activation is "
        "softmax or log_softmax",
        _classes,
        _cross_entropy,
        reads_through=("softmax", "log_softmax"),
        min_classes=2,
        few_classes_hint="use binary_cross_entropy for one sigmoid output",
    ),
)

_THRESHOLDS = ("step", "sign")  # not differentiable: a loss that reads through them trains them


def _not_after(loss: str) -> dict[str, str]:
    """Refusals of a loss whose decision is a score above 0: outputs that are never below 0."""
    return {
        act: f"{loss} decides on scores above 0, and a {act} output is never below 0: drop the "
        f"{act} (a step, sign or linear output), or use "
        + ("binary_cross_entropy" if act == "sigmoid" else "cross_entropy")
        for act in ("sigmoid", "softmax", "log_softmax")
    }


_MARGIN = {"margin": o.number("required margin of the true class", 1.0, exclusive_minimum=0)}


def _hinge_family(name: str, multi: Callable[..., str], binary: Callable[..., str], what: str):
    """hinge and squared_hinge: binary on one output, multiclass SVM on more."""
    squared = name != "hinge"
    LOSSES.add(
        name,
        LossDef(
            name,
            f"{'squared ' if squared else ''}hinge loss. One output: binary, "
            + what.format(m="margin - t z")
            + " with t = -1/+1 (targets 0/1 or -1/+1), averaged over samples; read from the "
            "input z of a final step or sign, deciding at 0. More outputs: multiclass SVM "
            "(Weston-Watkins), per sample the sum over the wrong classes j of "
            + what.format(m="s_j - s_y + margin")
            + ", not divided by the number of classes (PyTorch's MultiMarginLoss"
            + (" with p=2" if squared else "")
            + " divides); averaged over samples",
            _classes,
            multi,
            _MARGIN,
            reads_through=("softmax",),
            one_output=LossDef(
                name,
                f"binary {name.replace('_', ' ')} on one output",
                _signed_binary,
                binary,
                _MARGIN,
                reads_through=_THRESHOLDS,
                refuses_after=_not_after(name),
            ),
        ),
    )


_hinge_family("hinge", _hinge, _binary_hinge, "max(0, {m})")
_hinge_family("squared_hinge", _squared_hinge, _binary_squared_hinge, "max(0, {m})^2")
LOSSES.add(
    "perceptron",
    LossDef(
        "perceptron",
        "Rosenblatt's perceptron criterion max(0, -t z) per output, t = -1/+1 (targets 0/1 or "
        "-1/+1), averaged over samples and outputs; read from the input z of a final step or "
        "sign. With batch size 1 and plain SGD it is the perceptron learning rule: w += lr t x "
        "on a mistake (step(z) != target; at z = 0 the prediction is 0, so a positive target "
        "there is a mistake), nothing otherwise",
        _signed_binary,
        _perceptron,
        reads_through=_THRESHOLDS,
        refuses_after=_not_after("perceptron"),
    ),
)


def metrics(b: GraphBuilder, ldef: LossDef, target: Target, y: str, s: str, t: str) -> dict:
    """Metrics as graph outputs: accuracy for classification (decided on the loss's scores `s`),
    MAE for regression."""
    to = elem_type(b.dtype)
    if target.kind == "class_index":
        pred = b.op("ArgMax", [s], axis=-1, keepdims=0)
        hit = b.op("Cast", [b.op("Equal", [pred, t])], to=to)
        return {"accuracy": _mean(b, hit)}
    if target.kind in ("binary", "multilabel"):
        pred = b.op("Greater", [s, b.scalar(ldef.threshold)])
        hit = b.op("Equal", [b.op("Cast", [pred], to=to), t])
        return {"accuracy": _mean(b, b.op("Cast", [hit], to=to))}
    return {"mae": _mae(b, y, t)}


def loss_ref(value) -> tuple[str, dict]:
    return o.component_ref(LOSSES, value)


def loss_schema() -> dict:
    return {
        **o.name_or_mapping("loss", LOSSES),
        "description": "the training loss: a name, or {type: name, options...}",
    }


def loss_defs() -> dict:
    return o.family_defs("loss", LOSSES)
