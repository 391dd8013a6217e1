"""Optimizers, lowered to standard ops inside the train-step graph (compiler/update.py assembles
the update of every parameter from a definition's per-tensor rule)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

from nnc.compiler import options as o
from nnc.compiler.builder import GraphBuilder
from nnc.compiler.registry import Registry


@dataclass(frozen=True)
class OptimizerDef:
    """An optimizer and its policy; shared code reads these fields, never the name."""

    name: str
    description: str
    state: tuple[str, ...]  # per-parameter state tensors, same shape as the parameter
    # (b, p, g, state {short: tensor}, lr, t (1-based step as float), opts) -> (p', {short: s'})
    update: Callable[..., tuple[str, dict[str, str]]]
    options: Mapping[str, o.Option] = field(default_factory=dict)
    needs_step: bool = False  # bias corrections read the step counter
    # weight_decay is the optimizer's own (passed to `update`), not an L2 term added to g
    decoupled_weight_decay: bool = False
    # small parameters may share one flat update (worth it when the update spends several ops
    # per tensor; plain SGD's is as cheap as the concatenation)
    fusable: bool = True
    # whether a configuration keeps its state (SGD without momentum keeps none)
    keeps_state: Callable[[Mapping], bool] = lambda hyper: True

    def state_for(self, hyper: Mapping) -> tuple[str, ...]:
        """The state this configuration keeps."""
        return self.state if self.keeps_state(hyper) else ()


OPTIMIZERS: Registry[OptimizerDef] = Registry("optimizer")

_EPS = o.number("added to the denominator for numerical stability", 1e-8, exclusive_minimum=0)


def _axpy(b: GraphBuilder, a: float | str, x: str, y: str) -> str:
    """a * x + y, with a a Python number or a tensor."""
    a_t = b.scalar(a) if isinstance(a, (int, float)) else a
    return b.op("Add", [b.op("Mul", [a_t, x]), y])


def _scale(b: GraphBuilder, a: float, x: str) -> str:
    return b.op("Mul", [b.scalar(a), x])


def _sgd(b, p, g, s, lr, t, momentum=0.0, nesterov=False, **_):
    if momentum == 0.0:
        return b.op("Sub", [p, b.op("Mul", [lr, g])]), {}
    v = _axpy(b, momentum, s["velocity"], g)  # PyTorch's form: v = mu v + g
    step = _axpy(b, momentum, v, g) if nesterov else v
    return b.op("Sub", [p, b.op("Mul", [lr, step])]), {"velocity": v}


def _adagrad(b, p, g, s, lr, t, epsilon=1e-10, **_):
    acc = b.op("Add", [s["accumulator"], b.op("Mul", [g, g])])
    denom = b.op("Add", [b.op("Sqrt", [acc]), b.scalar(epsilon)])
    return b.op("Sub", [p, b.op("Div", [b.op("Mul", [lr, g]), denom])]), {"accumulator": acc}


# Moving averages are kept divided by their (1 - beta), so that their update is beta s + x (two
# passes over the tensor, not three) and the constant factors join the step's scalars: for large
# parameters the optimizer is bound by passes over memory (Adam: 10 here instead of 14).


def _rmsprop(b, p, g, s, lr, t, rho=0.99, epsilon=1e-8, **_):
    # s = square_avg / (1 - rho): p - lr g / (sqrt((1 - rho) s) + eps)
    #                            = p - lr / sqrt(1 - rho) * g / (sqrt(s) + eps / sqrt(1 - rho))
    sq = b.op("Add", [_scale(b, rho, s["square_avg"]), b.op("Mul", [g, g])])
    k = float(np.sqrt(1.0 - rho))
    denom = b.op("Add", [b.op("Sqrt", [sq]), b.scalar(epsilon / k)])
    step = b.op("Mul", [b.op("Div", [g, denom]), b.op("Mul", [lr, b.scalar(1.0 / k)])])
    return b.op("Sub", [p, step]), {"square_avg": sq}


def _adam_core(b, p, g, s, lr, t, beta1, beta2, epsilon):
    # m = m_true / (1 - beta1) and v = v_true / (1 - beta2), so that PyTorch's step
    #   lr / c1 * m_true / (sqrt(v_true) / sqrt(c2) + eps)
    # is a * m / (sqrt(v) + e) with k = sqrt((1 - beta2) / c2), a = lr (1 - beta1) / (c1 k),
    # e = eps / k: scalars computed once per graph; c = 1 - beta^t, the bias corrections
    m = b.op("Add", [_scale(b, beta1, s["m"]), g])
    v = b.op("Add", [_scale(b, beta2, s["v"]), b.op("Mul", [g, g])])

    def correction(beta):
        return b.op("Sub", [b.scalar(1.0), b.op("Pow", [b.scalar(beta), t])])

    key = f"adam.{beta1}.{beta2}.{epsilon}"
    k = b.memo(
        key + ".k",
        lambda: b.op("Sqrt", [b.op("Div", [b.scalar(1.0 - beta2), correction(beta2)])]),
    )
    a = b.memo(
        key + ".a",
        lambda: b.op(
            "Div",
            [b.op("Mul", [lr, b.scalar(1.0 - beta1)]), b.op("Mul", [correction(beta1), k])],
        ),
    )
    e = b.memo(key + ".e", lambda: b.op("Div", [b.scalar(epsilon), k]))
    step = b.op("Mul", [b.op("Div", [m, b.op("Add", [b.op("Sqrt", [v]), e])]), a])
    return b.op("Sub", [p, step]), {"m": m, "v": v}


def _adam(b, p, g, s, lr, t, beta1=0.9, beta2=0.999, epsilon=1e-8, **_):
    return _adam_core(b, p, g, s, lr, t, beta1, beta2, epsilon)


def _adamw(b, p, g, s, lr, t, beta1=0.9, beta2=0.999, epsilon=1e-8, weight_decay=0.01, **_):
    # decoupled weight decay (Loshchilov & Hutter): p <- p (1 - lr wd), then the Adam step
    keep = b.op("Sub", [b.scalar(1.0), b.op("Mul", [lr, b.scalar(weight_decay)])])
    decayed = b.op("Mul", [p, keep])
    return _adam_core(b, decayed, g, s, lr, t, beta1, beta2, epsilon)


def _lion(b, p, g, s, lr, t, beta1=0.9, beta2=0.99, weight_decay=0.0, **_):
    # Lion (Chen et al. 2023): the sign of an interpolation of momentum and gradient, with
    # decoupled weight decay; the momentum then moves at the slower rate beta2
    direction = b.op("Sign", [_axpy(b, 1.0 - beta1, g, _scale(b, beta1, s["m"]))])
    if weight_decay:
        direction = b.op("Add", [direction, _scale(b, weight_decay, p)])
    m = _axpy(b, 1.0 - beta2, g, _scale(b, beta2, s["m"]))
    return b.op("Sub", [p, b.op("Mul", [lr, direction])]), {"m": m}


_COMMON = {
    "lr": o.number("learning rate", 0.01, exclusive_minimum=0),
    "weight_decay": o.number(
        "L2 weight decay added to the gradient (decoupled for adamw)", 0.0, minimum=0
    ),
    "clip_norm": o.number(
        "rescale the gradients when their global L2 norm exceeds this", None, exclusive_minimum=0
    ),
    "schedule": o.raw({"$ref": "#/$defs/schedule"}, "learning-rate schedule", None),
}
_BETAS = {
    "beta1": o.number("decay of the first-moment average", 0.9, minimum=0, exclusive_maximum=1),
    "beta2": o.number("decay of the second-moment average", 0.999, minimum=0, exclusive_maximum=1),
    "epsilon": _EPS,
}

OPTIMIZERS.add(
    "sgd",
    OptimizerDef(
        "sgd",
        "stochastic gradient descent, optionally with (Nesterov) momentum",
        ("velocity",),
        _sgd,
        {
            **_COMMON,
            "momentum": o.number("momentum factor", 0.0, minimum=0, exclusive_maximum=1),
            "nesterov": o.boolean("use Nesterov momentum", False),
        },
        fusable=False,
        keeps_state=lambda hyper: bool(hyper.get("momentum")),
    ),
)
OPTIMIZERS.add(
    "adagrad",
    OptimizerDef(
        "adagrad",
        "Adagrad: per-parameter steps scaled by the accumulated squared gradients",
        ("accumulator",),
        _adagrad,
        {**_COMMON, "epsilon": o.number("stability term", 1e-10, exclusive_minimum=0)},
    ),
)
OPTIMIZERS.add(
    "rmsprop",
    OptimizerDef(
        "rmsprop",
        "RMSProp: steps scaled by a moving average of squared gradients",
        ("square_avg",),
        _rmsprop,
        {
            **_COMMON,
            "lr": o.number("learning rate", 0.001, exclusive_minimum=0),
            "rho": o.number(
                "decay of the squared-gradient average", 0.99, minimum=0, exclusive_maximum=1
            ),
            "epsilon": _EPS,
        },
    ),
)
OPTIMIZERS.add(
    "adam",
    OptimizerDef(
        "adam",
        "Adam (Kingma & Ba) with bias correction",
        ("m", "v"),
        _adam,
        {**_COMMON, "lr": o.number("learning rate", 0.001, exclusive_minimum=0), **_BETAS},
        needs_step=True,
    ),
)
OPTIMIZERS.add(
    "adamw",
    OptimizerDef(
        "adamw",
        "Adam with decoupled weight decay",
        ("m", "v"),
        _adamw,
        {
            **_COMMON,
            "lr": o.number("learning rate", 0.001, exclusive_minimum=0),
            **_BETAS,
            "weight_decay": o.number("decoupled weight decay", 0.01, minimum=0),
        },
        needs_step=True,
        decoupled_weight_decay=True,
    ),
)


OPTIMIZERS.add(
    "lion",
    OptimizerDef(
        "lion",
        "Lion (evolved sign momentum): steps of size lr in the sign of beta1-momentum; use a "
        "learning rate 3-10x smaller than Adam's",
        ("m",),
        _lion,
        {
            **_COMMON,
            "lr": o.number("learning rate", 1e-4, exclusive_minimum=0),
            "beta1": o.number(
                "momentum mixed into the step's sign", 0.9, minimum=0, exclusive_maximum=1
            ),
            "beta2": o.number("decay of the momentum", 0.99, minimum=0, exclusive_maximum=1),
            "weight_decay": o.number("decoupled weight decay", 0.0, minimum=0),
        },
        decoupled_weight_decay=True,
    ),
)


def optimizer_defs() -> dict:
    return o.family_defs("optimizer", OPTIMIZERS)


DEFAULT_OPTIMIZER = "sgd"  # what a spec without an optimizer: section trains with


def optimizer_options(cfg: dict | None) -> dict:
    """The optimizer section with defaults filled; no section means plain SGD at its defaults."""
    cfg = dict(cfg or {"type": DEFAULT_OPTIMIZER})
    return {**o.defaults(OPTIMIZERS[cfg["type"]].options), **cfg}
