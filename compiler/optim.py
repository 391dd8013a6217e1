"""Optimizers and learning-rate schedules, lowered to standard ops inside the train-step graph."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from nnc.compiler import options as o
from nnc.compiler.builder import GraphBuilder
from nnc.compiler.registry import Registry


@dataclass(frozen=True)
class OptimizerDef:
    name: str
    description: str
    state: tuple[str, ...]  # per-parameter state tensors, same shape as the parameter
    # (b, p, g, state {short: tensor}, lr, t (1-based step as float), opts) -> (p', {short: s'})
    update: Callable[..., tuple[str, dict[str, str]]]
    options: Mapping[str, o.Option] = field(default_factory=dict)
    needs_step: bool = False  # bias corrections read the step counter

    def state_for(self, hyper: Mapping) -> tuple[str, ...]:
        """The state this configuration keeps (plain SGD keeps none)."""
        if self.name == "sgd" and not hyper.get("momentum"):
            return ()
        return self.state


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


def _rmsprop(b, p, g, s, lr, t, rho=0.99, epsilon=1e-8, **_):
    sq = _axpy(b, 1.0 - rho, b.op("Mul", [g, g]), _scale(b, rho, s["square_avg"]))
    denom = b.op("Add", [b.op("Sqrt", [sq]), b.scalar(epsilon)])
    return b.op("Sub", [p, b.op("Div", [b.op("Mul", [lr, g]), denom])]), {"square_avg": sq}


def _adam_core(b, p, g, s, lr, t, beta1, beta2, epsilon):
    m = _axpy(b, 1.0 - beta1, g, _scale(b, beta1, s["m"]))
    v = _axpy(b, 1.0 - beta2, b.op("Mul", [g, g]), _scale(b, beta2, s["v"]))

    # the bias corrections 1 - beta^t are scalars shared by every parameter: computed once
    def correction(beta):
        return b.op("Sub", [b.scalar(1.0), b.op("Pow", [b.scalar(beta), t])])

    step_size = b.memo(f"adam.lr/c1.{beta1}", lambda: b.op("Div", [lr, correction(beta1)]))
    inv_sqrt_c2 = b.memo(
        f"adam.1/sqrt(c2).{beta2}",
        lambda: b.op("Reciprocal", [b.op("Sqrt", [correction(beta2)])]),
    )
    # p - lr/c1 * m / (sqrt(v) / sqrt(c2) + eps), as in PyTorch's Adam
    denom = b.op("Add", [b.op("Mul", [b.op("Sqrt", [v]), inv_sqrt_c2]), b.scalar(epsilon)])
    step = b.op("Div", [b.op("Mul", [step_size, m]), denom])
    return b.op("Sub", [p, step]), {"m": m, "v": v}


def _adam(b, p, g, s, lr, t, beta1=0.9, beta2=0.999, epsilon=1e-8, **_):
    return _adam_core(b, p, g, s, lr, t, beta1, beta2, epsilon)


def _adamw(b, p, g, s, lr, t, beta1=0.9, beta2=0.999, epsilon=1e-8, weight_decay=0.01, **_):
    # decoupled weight decay (Loshchilov & Hutter): p <- p (1 - lr wd), then the Adam step
    decayed = b.op("Sub", [p, b.op("Mul", [b.op("Mul", [lr, b.scalar(weight_decay)]), p])])
    return _adam_core(b, decayed, g, s, lr, t, beta1, beta2, epsilon)


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
    ),
)


# -- learning-rate schedules -------------------------------------------------------------------
@dataclass(frozen=True)
class ScheduleDef:
    name: str
    description: str
    # (b, lr, t0 (0-based step as float), opts) -> factor-applied lr
    lower: Callable[..., str]
    options: Mapping[str, o.Option] = field(default_factory=dict)


SCHEDULES: Registry[ScheduleDef] = Registry("schedule")

_STEPS_UNIT = {
    "unit": o.choice(
        "whether step counts below are in iterations or epochs", ["step", "epoch"], "step"
    ),
    "warmup": o.integer("linear warmup over this many steps (or epochs) first", 0, minimum=0),
}


def _constant(b, lr, t, **_):
    return lr


def _step_decay(b, lr, t, step_size, gamma=0.1, **_):
    k = b.op("Floor", [b.op("Div", [t, b.scalar(float(step_size))])])
    return b.op("Mul", [lr, b.op("Pow", [b.scalar(gamma), k])])


def _multistep(b, lr, t, milestones, gamma=0.1, **_):
    passed = b.op(
        "Cast",
        [b.op("GreaterOrEqual", [b.op("Unsqueeze", [t, b.ints([0])]), b.const(milestones)])],
        to=_ft(b),
    )
    k = b.op("ReduceSum", [passed], keepdims=0)
    return b.op("Mul", [lr, b.op("Pow", [b.scalar(gamma), k])])


def _exponential(b, lr, t, decay_steps, decay_rate, staircase=False, **_):
    k = b.op("Div", [t, b.scalar(float(decay_steps))])
    if staircase:
        k = b.op("Floor", [k])
    return b.op("Mul", [lr, b.op("Pow", [b.scalar(decay_rate), k])])


def _inverse_time(b, lr, t, decay_rate, **_):
    return b.op("Div", [lr, b.op("Add", [b.scalar(1.0), b.op("Mul", [b.scalar(decay_rate), t])])])


def _cosine(b, lr, t, decay_steps, min_lr=0.0, **_):
    frac = b.op("Min", [b.op("Div", [t, b.scalar(float(decay_steps))]), b.scalar(1.0)])
    cos = b.op("Cos", [b.op("Mul", [frac, b.scalar(math.pi)])])
    half = b.op("Mul", [b.op("Add", [cos, b.scalar(1.0)]), b.scalar(0.5)])
    return b.op("Add", [b.scalar(min_lr), b.op("Mul", [b.op("Sub", [lr, b.scalar(min_lr)]), half])])


def _ft(b):
    from nnc.compiler.builder import elem_type

    return elem_type(b.dtype)


_POS_STEPS = {"type": "integer", "minimum": 1}
SCHEDULES.add(
    "constant", ScheduleDef("constant", "the same rate throughout", _constant, dict(_STEPS_UNIT))
)
SCHEDULES.add(
    "step",
    ScheduleDef(
        "step",
        "lr * gamma^floor(t / step_size)",
        _step_decay,
        {
            **_STEPS_UNIT,
            "step_size": o.integer("steps between decays", minimum=1),
            "gamma": o.number("decay factor", 0.1, exclusive_minimum=0),
        },
    ),
)
SCHEDULES.add(
    "multistep",
    ScheduleDef(
        "multistep",
        "lr * gamma^(number of milestones reached)",
        _multistep,
        {
            **_STEPS_UNIT,
            "milestones": o.raw(
                {"type": "array", "items": _POS_STEPS, "minItems": 1}, "steps at which to decay"
            ),
            "gamma": o.number("decay factor", 0.1, exclusive_minimum=0),
        },
    ),
)
SCHEDULES.add(
    "exponential",
    ScheduleDef(
        "exponential",
        "lr * decay_rate^(t / decay_steps)",
        _exponential,
        {
            **_STEPS_UNIT,
            "decay_steps": o.integer("steps per decay_rate factor", minimum=1),
            "decay_rate": o.number("factor per decay_steps", exclusive_minimum=0),
            "staircase": o.boolean("decay in whole steps of decay_steps", False),
        },
    ),
)
SCHEDULES.add(
    "inverse_time",
    ScheduleDef(
        "inverse_time",
        "lr / (1 + decay_rate * t)",
        _inverse_time,
        {**_STEPS_UNIT, "decay_rate": o.number("k in lr / (1 + k t)", minimum=0)},
    ),
)
SCHEDULES.add(
    "cosine",
    ScheduleDef(
        "cosine",
        "cosine annealing from lr to min_lr over decay_steps, then min_lr",
        _cosine,
        {
            **_STEPS_UNIT,
            "decay_steps": o.integer("length of the cosine", minimum=1),
            "min_lr": o.number("final learning rate", 0.0, minimum=0),
        },
    ),
)

_STEP_KEYS = ("step_size", "decay_steps", "warmup")


def schedule_lr(b: GraphBuilder, lr: str, t0: str, sched: dict | None, steps_per_epoch: int) -> str:
    """The learning rate at 0-based step t0 under `sched`, with optional linear warmup."""
    if not sched:
        return lr
    opts = {
        **o.defaults(SCHEDULES[sched["type"]].options),
        **{k: v for k, v in sched.items() if k != "type"},
    }
    if opts.pop("unit") == "epoch":
        for k in _STEP_KEYS:
            if k in opts:
                opts[k] = opts[k] * steps_per_epoch
        if "milestones" in opts:
            opts["milestones"] = [m * steps_per_epoch for m in opts["milestones"]]
    if "milestones" in opts:
        opts["milestones"] = [float(m) for m in opts["milestones"]]
    warmup = opts.pop("warmup")
    with b.scope("schedule"):
        out = SCHEDULES[sched["type"]].lower(b, lr, t0, **opts)
        if warmup:
            ramp = b.op("Div", [b.op("Add", [t0, b.scalar(1.0)]), b.scalar(float(warmup))])
            out = b.op("Mul", [out, b.op("Min", [ramp, b.scalar(1.0)])])
    return out


def schedule_defs() -> dict:
    return o.family_defs("schedule", SCHEDULES)


def optimizer_defs() -> dict:
    return o.family_defs("optimizer", OPTIMIZERS)


DEFAULT_OPTIMIZER = "sgd"  # what a spec without an optimizer: section trains with


def optimizer_options(cfg: dict | None) -> dict:
    """The optimizer section with defaults filled; no section means plain SGD at its defaults."""
    cfg = dict(cfg or {"type": DEFAULT_OPTIMIZER})
    return {**o.defaults(OPTIMIZERS[cfg["type"]].options), **cfg}
