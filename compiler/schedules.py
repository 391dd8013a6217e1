"""Learning-rate schedules, computed inside the train-step graph from the step counter."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from nnc.compiler import options as o
from nnc.compiler.builder import GraphBuilder, elem_type
from nnc.compiler.registry import Registry


@dataclass(frozen=True)
class ScheduleDef:
    name: str
    description: str
    # (b, lr, t0 (0-based step as float), opts) -> factor-applied lr
    lower: Callable[..., str]
    options: Mapping[str, o.Option] = field(default_factory=dict)
    # options that count steps: with `unit: epoch` they are multiplied by the steps per epoch
    step_options: tuple[str, ...] = ()


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
        step_options=("step_size",),
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
        step_options=("milestones",),
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
        step_options=("decay_steps",),
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
        step_options=("decay_steps",),
    ),
)


def schedule_lr(b: GraphBuilder, lr: str, t0: str, sched: dict | None, steps_per_epoch: int) -> str:
    """The learning rate at 0-based step t0 under `sched`, with optional linear warmup."""
    if not sched:
        return lr
    sdef = SCHEDULES[sched["type"]]
    opts = {**o.defaults(sdef.options), **{k: v for k, v in sched.items() if k != "type"}}
    if opts.pop("unit") == "epoch":
        for k in (*sdef.step_options, "warmup"):
            v = opts.get(k)
            if isinstance(v, (list, tuple)):
                opts[k] = [m * steps_per_epoch for m in v]
            elif v is not None:
                opts[k] = v * steps_per_epoch
    opts = {
        k: [float(m) for m in v] if isinstance(v, (list, tuple)) else v for k, v in opts.items()
    }
    warmup = opts.pop("warmup")
    with b.scope("schedule"):
        out = sdef.lower(b, lr, t0, **opts)
        if warmup:
            ramp = b.op("Div", [b.op("Add", [t0, b.scalar(1.0)]), b.scalar(float(warmup))])
            out = b.op("Mul", [out, b.op("Min", [ramp, b.scalar(1.0)])])
    return out


def schedule_defs() -> dict:
    return o.family_defs("schedule", SCHEDULES)
