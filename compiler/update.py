"""The optimizer update of a train step, assembled from the definitions: gradient clipping, weight
decay (coupled, or the optimizer's own), one update rule per parameter or per fused group of small
parameters, max-norm constraints, and the optimizer state carried to the next step."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from nnc.compiler.builder import GraphBuilder, elem_type
from nnc.compiler.layers import ParamDecl
from nnc.compiler.optim import OPTIMIZERS, OptimizerDef
from nnc.compiler.schedules import schedule_lr
from nnc.compiler.spec.model import thaw

# Options every optimizer takes that shared code applies around the optimizer's own rule.
_SHARED_OPTIONS = ("type", "lr", "clip_norm", "schedule")

# Parameters up to this size share one flat optimizer update when the optimizer spends several
# ops per parameter: for small networks the per-op cost of the runtime, not arithmetic, is the
# bound (XOR with Adam: 97 -> 62 nodes per step).
FUSE_MAX_SIZE = 16384


@dataclass
class Update:
    """Tensor names of what one update computed."""

    new_values: dict[str, str] = field(default_factory=dict)  # parameter -> updated value
    new_state: dict[str, str] = field(default_factory=dict)  # state input -> its next value
    state_shapes: dict[str, list[int]] = field(default_factory=dict)  # state input -> shape
    grad_norm: str = ""  # global L2 norm of the gradients (before clipping)
    lr: str = ""  # the learning rate applied (the `lr` input, scheduled)
    scheduled: bool = False


def append_update(
    b: GraphBuilder,
    trainable: list[ParamDecl],
    grads: Mapping[str, str],
    optimizer: Mapping,
    step: str,
    lr_in: str,
    *,
    max_norm: float | None = None,
    steps_per_epoch: int = 1,
) -> Update:
    """Append the update of `trainable` (tensors named like the parameters) by `grads` under the
    optimizer section `optimizer` (defaults filled); adds one graph input per state tensor."""
    opt = dict(optimizer)
    odef = OPTIMIZERS[opt["type"]]
    out = Update()
    with b.scope("optimizer"):
        schedule = thaw(opt.get("schedule"))
        # the step as a float, 0-based for schedules and 1-based for bias corrections ("": unused)
        t0 = b.op("Cast", [step], to=elem_type(b.dtype)) if schedule or odef.needs_step else ""
        t1 = b.op("Add", [t0, b.scalar(1.0)]) if odef.needs_step else ""
        lr = schedule_lr(b, lr_in, t0, schedule, steps_per_epoch) if schedule else lr_in
        out.lr, out.scheduled = lr, bool(schedule)
        sq = [b.op("ReduceSumSquare", [grads[p.name]], keepdims=0) for p in trainable]
        norm = b.op("Sqrt", [sq[0] if len(sq) == 1 else b.op("Sum", sq)]) if sq else b.scalar(0.0)
        out.grad_norm = norm
        scale = None
        if opt.get("clip_norm"):
            c = b.scalar(float(opt["clip_norm"]))
            scale = b.op("Div", [c, b.op("Max", [norm, c])])
        hyper = {k: v for k, v in opt.items() if k not in _SHARED_OPTIONS}
        coupled_wd = 0.0
        if not odef.decoupled_weight_decay:
            coupled_wd = float(hyper.pop("weight_decay", 0.0) or 0.0)
        state_kinds = odef.state_for(hyper)
        for group in update_groups(trainable, odef, state_kinds):
            _update_group(b, group, grads, odef, hyper, state_kinds, scale, coupled_wd, lr, t1, out)
    if max_norm:
        by_name = {p.name: p for p in trainable}
        for name, value in list(out.new_values.items()):
            p = by_name[name]
            if p.max_norm_axes is not None:
                with b.scope(f"optimizer/{name}"):
                    out.new_values[name] = _max_norm(b, p, value, float(max_norm))
    return out


def _update_group(b, group, grads, odef, hyper, state_kinds, scale, coupled_wd, lr, t1, out):
    fused = len(group) > 1
    name = "optimizer.fused" if fused else group[0].name
    size = sum(int(np.prod(p.shape)) for p in group)
    shape = [size] if fused else list(group[0].shape)
    with b.scope(name):
        if fused:  # one flat update over several small parameters
            flat = b.ints([-1])
            param = b.op("Concat", [b.op("Reshape", [p.name, flat]) for p in group], axis=0)
            g = b.op("Concat", [b.op("Reshape", [grads[p.name], flat]) for p in group], axis=0)
        else:
            param, g = group[0].name, grads[group[0].name]
        if scale is not None:
            g = b.op("Mul", [g, scale])
        if coupled_wd:
            g = b.op("Add", [g, b.op("Mul", [param, b.scalar(coupled_wd)])])
        state = {}
        for s in state_kinds:
            state[s] = b.add_input(f"{name}.{s}", shape)
            out.state_shapes[f"{name}.{s}"] = shape
        new_param, new_state = odef.update(b, param, g, state, lr, t1, **hyper)
        if fused:
            sizes = b.ints([int(np.prod(p.shape)) for p in group])
            parts = b.op("Split", [new_param, sizes], outputs=len(group), axis=0)
            news = [b.op("Reshape", [v, b.ints(p.shape)]) for v, p in zip(parts, group)]
        else:
            news = [new_param]
    for p, new_p in zip(group, news):
        out.new_values[p.name] = new_p
    for s in state_kinds:
        out.new_state[f"{name}.{s}"] = new_state.get(s, f"{name}.{s}")


def update_groups(
    trainable: list[ParamDecl], odef: OptimizerDef, state_kinds
) -> list[list[ParamDecl]]:
    """Parameters updated together: the small ones in one flat group where that pays."""
    if not state_kinds or not odef.fusable:
        return [[p] for p in trainable]
    small = [p for p in trainable if int(np.prod(p.shape)) <= FUSE_MAX_SIZE]
    groups = [[p] for p in trainable if int(np.prod(p.shape)) > FUSE_MAX_SIZE]
    if len(small) > 1:
        return [small, *groups]
    return [[p] for p in trainable]


def _max_norm(b: GraphBuilder, p: ParamDecl, value: str, limit: float) -> str:
    """Rescale each unit's incoming weights (norms over p.max_norm_axes) to at most `limit`."""
    axes = list(p.max_norm_axes or range(len(p.shape)))
    norm = b.op(
        "Sqrt", [b.op("ReduceSum", [b.op("Mul", [value, value]), b.ints(axes)], keepdims=1)]
    )
    scale = b.op(
        "Min", [b.op("Div", [b.scalar(limit), b.op("Add", [norm, b.scalar(1e-7)])]), b.scalar(1.0)]
    )
    return b.op("Mul", [value, scale])
