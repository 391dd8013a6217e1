"""Lowering a Network to the ONNX graphs: inference, gradient, train-step and eval."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np
import onnx

from nnc.compiler import __version__
from nnc.compiler.autodiff import gradients
from nnc.compiler.builder import GraphBuilder, elem_type
from nnc.compiler.layers import LowerCtx, ParamDecl
from nnc.compiler.losses import LOSSES, metrics
from nnc.compiler.network import Network
from nnc.compiler.optim import OPTIMIZERS, schedule_lr
from nnc.compiler.spec.model import thaw

NEXT = ".next"  # suffix of an output that feeds the same-named input at the next step


@dataclass
class Preprocess:
    """x' = x * scale + shift, fitted on the training data; baked into the inference graph."""

    scale: np.ndarray
    shift: np.ndarray


@dataclass
class TrainingGraphs:
    gradient: onnx.ModelProto
    train_step: onnx.ModelProto
    eval: onnx.ModelProto
    random_inputs: dict[str, list[int]] = field(default_factory=dict)  # name -> per-sample shape
    # optimizer state inputs and their shapes (a parameter's, or a fused group's flat length)
    state_shapes: dict[str, list[int]] = field(default_factory=dict)

    @property
    def state_names(self) -> list[str]:
        return list(self.state_shapes)

    def initial_state(self, dtype=np.float32) -> dict[str, np.ndarray]:
        """Optimizer state at step 0: all zeros."""
        return {k: np.zeros(v, dtype) for k, v in self.state_shapes.items()}

    def models(self) -> dict[str, onnx.ModelProto]:
        return {"gradient": self.gradient, "train_step": self.train_step, "eval": self.eval}


def lower_network(net: Network, ctx: LowerCtx, x: str) -> str:
    values = {"input": x}
    for node in net.nodes:
        with ctx.b.scope(node.layer.name):
            values[node.layer.name] = node.layer.lower(ctx, [values[i] for i in node.inputs])
    return values[net.output]


def _label_dtype(net: Network):
    return np.int64 if net.target().kind == "class_index" else None


def inference_model(
    net: Network,
    values: dict[str, np.ndarray],
    dtype=np.float32,
    preprocess: Preprocess | None = None,
    class_names: list[str] | None = None,
) -> onnx.ModelProto:
    """Raw features in, predictions out; parameters and preprocessing are initializers."""
    b = GraphBuilder(net.spec.name, dtype)
    x = b.add_input("x", ["N", *net.spec.input_shape])
    if preprocess is not None:
        with b.scope("preprocess"):
            scale = b.add_initializer("preprocess.scale", np.asarray(preprocess.scale, dtype))
            shift = b.add_initializer("preprocess.shift", np.asarray(preprocess.shift, dtype))
            x = b.op("Add", [b.op("Mul", [x, scale]), shift])
    params = {
        p.name: b.add_initializer(p.name, np.asarray(values[p.name], dtype)) for p in net.params
    }
    ctx = LowerCtx(b, "infer", params)
    y = lower_network(net, ctx, x)
    b.rename(y, "y")
    b.add_output("y", ["N", *net.output_shape])
    if net.spec.loss is not None:
        kind = net.target().kind
        if kind == "class_index":
            b.op("ArgMax", ["y"], ["label"], axis=-1, keepdims=0)
            b.add_output("label", ["N"], np.int64)
        elif kind in ("binary", "multilabel"):
            pre = ctx.pre_activation.get(net.output)
            score, cut = (pre[1], 0.0) if pre and pre[0] == "sigmoid" else ("y", 0.5)
            b.op(
                "Cast",
                [b.op("Greater", [score, b.scalar(cut)])],
                ["label"],
                to=onnx.TensorProto.INT64,
            )
            b.add_output("label", ["N", *net.output_shape], np.int64)
    meta = {
        "nnc_version": __version__,
        "spec": json.dumps(thaw(net.spec.document), sort_keys=True),
        "spec_hash": net.spec.hash,
        "input_shape": json.dumps(list(net.spec.input_shape)),
        "preprocess": "baked" if preprocess is not None else "none",
    }
    if class_names:
        meta["class_names"] = json.dumps(list(class_names))
    return b.model(doc=f"nnc inference graph of {net.spec.name}", metadata=meta)


def _regularization(b: GraphBuilder, net: Network, terms: list[str]) -> None:
    reg = net.spec.regularization
    chosen = [p for p in net.trainable() if p.regularize or reg["include_bias"]]
    if not chosen:
        return
    with b.scope("regularization"):
        if reg["l2"]:
            sq = [b.op("ReduceSum", [b.op("Mul", [p.name, p.name])], keepdims=0) for p in chosen]
            total = sq[0] if len(sq) == 1 else b.op("Sum", sq)
            terms.append(b.op("Mul", [total, b.scalar(reg["l2"] / 2.0)]))
        if reg["l1"]:
            ab = [b.op("ReduceSum", [b.op("Abs", [p.name])], keepdims=0) for p in chosen]
            total = ab[0] if len(ab) == 1 else b.op("Sum", ab)
            terms.append(b.op("Mul", [total, b.scalar(reg["l1"])]))


def _max_norm(b: GraphBuilder, p: ParamDecl, value: str, limit: float) -> str:
    axes = list(p.max_norm_axes or range(len(p.shape)))
    norm = b.op(
        "Sqrt", [b.op("ReduceSum", [b.op("Mul", [value, value]), b.ints(axes)], keepdims=1)]
    )
    scale = b.op(
        "Min", [b.op("Div", [b.scalar(limit), b.op("Add", [norm, b.scalar(1e-7)])]), b.scalar(1.0)]
    )
    return b.op("Mul", [value, scale])


def training_graphs(net: Network, dtype=np.float32, steps_per_epoch: int = 1) -> TrainingGraphs:
    """The gradient, train-step and eval graphs. Parameters are graph inputs, so a trainer keeps
    them in device buffers and feeds each step's `.next` outputs back in."""
    if net.spec.loss is None:
        raise ValueError("training graphs need a loss in the spec")
    built = {
        kind: _training_graph(net, dtype, kind, steps_per_epoch)
        for kind in ("gradient", "train_step", "eval")
    }
    return TrainingGraphs(
        gradient=built["gradient"][0],
        train_step=built["train_step"][0],
        eval=built["eval"][0],
        random_inputs=built["train_step"][1],
        state_shapes=built["train_step"][2],
    )


def _training_graph(net: Network, dtype, kind: str, steps_per_epoch: int):
    spec = net.spec
    target = net.target()
    b = GraphBuilder(f"{spec.name}.{kind}", dtype)
    x = b.add_input("x", ["N", *spec.input_shape])
    if target.kind == "class_index":
        t = b.add_input("y", ["N"], np.int64)
    else:
        t = b.add_input("y", ["N", *net.output_shape])
    for p in net.params:
        b.add_input(p.name, list(p.shape))
    ctx = LowerCtx(b, "eval" if kind == "eval" else "train", {p.name: p.name for p in net.params})
    y = lower_network(net, ctx, x)
    pre = ctx.pre_activation.get(net.output)
    loss_name, loss_opts = spec.loss
    with b.scope("loss"):
        terms = [
            LOSSES[loss_name].lower(b, y, pre, t, num_classes=target.num_classes, **dict(loss_opts))
        ]
        _regularization(b, net, terms)
        loss = terms[0] if len(terms) == 1 else b.op("Sum", terms)
    with b.scope("metrics"):
        mets = metrics(b, target, y, pre, t)
    loss = b.rename(loss, "loss")
    b.add_output("loss", [])
    for k, v in mets.items():
        b.rename(v, f"metric.{k}")
        b.add_output(f"metric.{k}", [])
    random_inputs = {name: list(shape) for name, shape in ctx.random_inputs}
    if kind == "eval":
        return b.model(doc=f"nnc eval graph of {spec.name}"), random_inputs, {}

    trainable = net.trainable()
    grads = gradients(b, loss, [p.name for p in trainable]) if trainable else {}
    if kind == "gradient":
        for p in trainable:
            b.rename(grads[p.name], f"grad.{p.name}")
            b.add_output(f"grad.{p.name}", list(p.shape))
        return b.model(doc=f"nnc gradient graph of {spec.name}"), random_inputs, {}

    # -- train step: optimizer update ------------------------------------------------------------
    opt = dict(spec.optimizer)
    odef = OPTIMIZERS[opt["type"]]
    step = b.add_input("step", [], np.int64)
    lr_in = b.add_input("lr", [])
    state_shapes: dict[str, list[int]] = {}
    with b.scope("optimizer"):
        schedule = thaw(opt.get("schedule"))
        t0 = b.op("Cast", [step], to=elem_type(dtype)) if schedule or odef.needs_step else None
        t1 = b.op("Add", [t0, b.scalar(1.0)]) if odef.needs_step else None
        lr = schedule_lr(b, lr_in, t0, schedule, steps_per_epoch) if schedule else lr_in
        sq = [b.op("ReduceSumSquare", [grads[p.name]], keepdims=0) for p in trainable]
        norm = b.op("Sqrt", [sq[0] if len(sq) == 1 else b.op("Sum", sq)]) if sq else b.scalar(0.0)
        scale = None
        if opt.get("clip_norm"):
            c = b.scalar(float(opt["clip_norm"]))
            scale = b.op("Div", [c, b.op("Max", [norm, c])])
        wd = float(opt.get("weight_decay") or 0.0)
        hyper = {k: v for k, v in opt.items() if k not in ("type", "lr", "clip_norm", "schedule")}
        if opt["type"] != "adamw":
            hyper.pop("weight_decay", None)
        state_kinds = odef.state_for(hyper)
        max_norm = spec.regularization.get("max_norm")
        for group in _update_groups(trainable, odef, state_kinds):
            fused = len(group) > 1
            name = "optimizer.fused" if fused else group[0].name
            size = sum(int(np.prod(p.shape)) for p in group)
            shape = [size] if fused else list(group[0].shape)
            with b.scope(name):
                if fused:  # one flat update over several small parameters
                    flat = b.ints([-1])
                    param = b.op("Concat", [b.op("Reshape", [p.name, flat]) for p in group], axis=0)
                    g = b.op(
                        "Concat", [b.op("Reshape", [grads[p.name], flat]) for p in group], axis=0
                    )
                else:
                    param, g = group[0].name, grads[group[0].name]
                if scale is not None:
                    g = b.op("Mul", [g, scale])
                if wd and opt["type"] != "adamw":
                    g = b.op("Add", [g, b.op("Mul", [param, b.scalar(wd)])])
                state = {}
                for s in state_kinds:
                    state[s] = b.add_input(f"{name}.{s}", shape)
                    state_shapes[f"{name}.{s}"] = shape
                new_param, new_state = odef.update(b, param, g, state, lr, t1, **hyper)
                if fused:
                    sizes = b.ints([int(np.prod(p.shape)) for p in group])
                    parts = b.op("Split", [new_param, sizes], outputs=len(group), axis=0)
                    news = [b.op("Reshape", [v, b.ints(p.shape)]) for v, p in zip(parts, group)]
                else:
                    news = [new_param]
                for p, new_p in zip(group, news):
                    if max_norm and p.max_norm_axes is not None:
                        new_p = _max_norm(b, p, new_p, float(max_norm))
                    b.rename(new_p, p.name + NEXT)
                    b.add_output(p.name + NEXT, list(p.shape))
            for s in state_kinds:
                sname = f"{name}.{s}"
                b.rename(new_state.get(s, sname), sname + NEXT)
                b.add_output(sname + NEXT, shape)
    shapes = {p.name: list(p.shape) for p in net.params}
    for sname, value in ctx.state_updates.items():
        b.rename(value, sname + NEXT)
        b.add_output(sname + NEXT, shapes[sname])  # the checker wants a shape on every output
    b.rename(norm, "grad_norm")
    b.add_output("grad_norm", [])
    if schedule:  # without one the rate is the `lr` input itself
        b.rename(lr, "lr_used")
        b.add_output("lr_used", [])
    return b.model(doc=f"nnc train-step graph of {spec.name}"), random_inputs, state_shapes


# Parameters up to this size share one flat optimizer update when the optimizer spends several
# ops per parameter: for small networks the per-op cost of the runtime, not arithmetic, is the
# bound (XOR with Adam: 97 -> 62 nodes per step).
FUSE_MAX_SIZE = 16384


def _update_groups(trainable: list[ParamDecl], odef, state_kinds) -> list[list[ParamDecl]]:
    if not state_kinds or odef.name == "sgd":  # SGD's update is as cheap as the fusing
        return [[p] for p in trainable]
    small = [p for p in trainable if int(np.prod(p.shape)) <= FUSE_MAX_SIZE]
    groups = [[p] for p in trainable if int(np.prod(p.shape)) > FUSE_MAX_SIZE]
    if len(small) > 1:
        return [small, *groups]
    return [[p] for p in trainable]


def describe(model: onnx.ModelProto) -> dict:
    """Inputs and outputs of a graph with shapes and dtypes, for manifest.json."""

    def info(vi):
        t = vi.type.tensor_type
        shape = None
        if t.HasField("shape"):
            shape = [
                d.dim_value if d.HasField("dim_value") else (d.dim_param or None)
                for d in t.shape.dim
            ]
        return {
            "name": vi.name,
            "dtype": onnx.helper.tensor_dtype_to_np_dtype(t.elem_type).name,
            "shape": shape,
        }

    inits = {i.name for i in model.graph.initializer}
    return {
        "inputs": [info(v) for v in model.graph.input if v.name not in inits],
        "outputs": [info(v) for v in model.graph.output],
        "nodes": len(model.graph.node),
        "ops": sorted({n.op_type for n in model.graph.node}),
    }
