"""Lowering a Network to the ONNX graphs: inference, gradient, train-step and eval."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np
import onnx

from nnc.compiler import __version__
from nnc.compiler.autodiff import gradients
from nnc.compiler.builder import GraphBuilder
from nnc.compiler.layers import LowerCtx
from nnc.compiler.losses import metrics, scores
from nnc.compiler.network import Network
from nnc.compiler.simplify import simplify
from nnc.compiler.spec.model import thaw
from nnc.compiler.update import append_update

NEXT = ".next"  # suffix of an output that feeds the same-named input at the next step


@dataclass
class Preprocess:
    """x' = x * scale + shift, fitted on the training data, then (when the features come in
    another shape than the network's input, data.reshape) reshaped to the input shape; baked
    into the inference graph, which then takes raw features."""

    scale: np.ndarray | None  # None: no affine step
    shift: np.ndarray | None
    feature_shape: tuple[int, ...] | None = None  # per sample, when not the input shape


@dataclass
class TrainingGraphs:
    gradient: onnx.ModelProto
    train_step: onnx.ModelProto
    eval: onnx.ModelProto
    # parameters, their gradients, optimizer state, step, lr -> the updated ones: the train step's
    # update on its own, for data-parallel training and custom loops
    update: onnx.ModelProto
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
        return {
            "gradient": self.gradient,
            "train_step": self.train_step,
            "eval": self.eval,
            "update": self.update,
        }


def lower_network(net: Network, ctx: LowerCtx, x: str) -> str:
    values = {"input": x}
    act = net.final_activation()
    for node in net.nodes:
        with ctx.b.scope(node.layer.name):
            values[node.layer.name] = node.layer.lower(ctx, [values[i] for i in node.inputs])
        pre = ctx.pre_activation.get(node.inputs[0]) if node.layer.look_through else None
        if pre is not None and pre[0] == act and node.layer.name not in ctx.pre_activation:
            # a layer the loss looks through: the logits take the same path as the values
            with ctx.b.scope(f"{node.layer.name}/logits"):
                ctx.pre_activation[node.layer.name] = (act, node.layer.lower(ctx, [pre[1]]))
    return values[net.output]


def _label_dtype(net: Network):
    return np.int64 if net.target().kind == "class_index" else None


def inference_model(
    net: Network,
    values: dict[str, np.ndarray],
    dtype=np.float32,
    preprocess: Preprocess | None = None,
    class_names: list[str] | None = None,
    recurrent: str = "native",
) -> onnx.ModelProto:
    """Raw features in, predictions out; parameters and preprocessing are initializers.
    `recurrent`: how recurrent layers are spelt (LowerCtx.recurrent)."""
    b = GraphBuilder(net.spec.name, dtype)
    feature_shape = (preprocess.feature_shape if preprocess else None) or net.spec.input_shape
    x = b.add_input("x", ["N", *feature_shape])
    if preprocess is not None:
        with b.scope("preprocess"):
            if preprocess.scale is not None and preprocess.shift is not None:
                scale = b.add_initializer("preprocess.scale", np.asarray(preprocess.scale, dtype))
                shift = b.add_initializer("preprocess.shift", np.asarray(preprocess.shift, dtype))
                x = b.op("Add", [b.op("Mul", [x, scale]), shift])
            if tuple(feature_shape) != tuple(net.spec.input_shape):
                x = b.op("Reshape", [x, b.ints([-1, *net.spec.input_shape])])
    params = {
        p.name: b.add_initializer(p.name, np.asarray(values[p.name], dtype)) for p in net.params
    }
    ctx = LowerCtx(b, "infer", params, recurrent=recurrent)
    y = lower_network(net, ctx, x)
    b.rename(y, "y")
    b.add_output("y", ["N", *net.output_shape])
    if net.spec.loss is not None:
        kind = net.target().kind
        if kind == "class_index":
            b.op("ArgMax", ["y"], ["label"], axis=-1, keepdims=0)
            b.add_output("label", ["N"], np.int64)
        elif kind in ("binary", "multilabel"):
            ldef = net.loss_def()
            score = scores(ldef, "y", ctx.pre_activation.get(net.output))
            # Where rather than Cast(bool -> int64), which tract types as a shape value
            b.op(
                "Where",
                [
                    b.op("Greater", [score, b.scalar(ldef.threshold)]),
                    b.const(1, np.int64),
                    b.const(0, np.int64),
                ],
                ["label"],
            )
            b.add_output("label", ["N", *net.output_shape], np.int64)
    meta = {
        "nnc_version": __version__,
        "spec": json.dumps(thaw(net.spec.document), sort_keys=True),
        "spec_hash": net.spec.hash,
        "input_shape": json.dumps(list(net.spec.input_shape)),
        "preprocess": "baked" if preprocess is not None else "none",
        "feature_shape": json.dumps(list(feature_shape)),
    }
    if recurrent != "native":
        meta["recurrent"] = recurrent
    if class_names:
        meta["class_names"] = json.dumps(list(class_names))
    return simplify(b.model(doc=f"nnc inference graph of {net.spec.name}", metadata=meta))


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


def training_graphs(
    net: Network, dtype=np.float32, steps_per_epoch: int = 1, recurrent: str = "native"
) -> TrainingGraphs:
    """The gradient, train-step and eval graphs. Parameters are graph inputs, so a trainer keeps
    them in device buffers and feeds each step's `.next` outputs back in. `recurrent`: how
    recurrent layers are spelt (LowerCtx.recurrent)."""
    if net.spec.loss is None:
        raise ValueError("training graphs need a loss in the spec")
    gradient, random_inputs = _gradient_graph(net, dtype, recurrent)
    train_step, state_shapes = _train_step_graph(net, dtype, steps_per_epoch, recurrent)
    eval_b = _loss_graph(net, dtype, "eval", recurrent)[0]
    return TrainingGraphs(
        gradient=gradient,
        train_step=train_step,
        eval=simplify(eval_b.model(doc=f"nnc eval graph of {net.spec.name}")),
        update=_update_graph(net, dtype, steps_per_epoch),
        random_inputs=random_inputs,
        state_shapes=state_shapes,
    )


def _loss_graph(
    net: Network, dtype, kind: str, recurrent: str = "native"
) -> tuple[GraphBuilder, LowerCtx, str]:
    """Inputs x, y and every parameter -> outputs loss and metric.*: the part every training
    graph shares. `kind` names the graph and picks the mode (eval: inference behaviour)."""
    spec = net.spec
    target = net.target()
    assert spec.loss is not None
    ldef = net.loss_def()
    b = GraphBuilder(f"{spec.name}.{kind}", dtype)
    x = b.add_input("x", ["N", *spec.input_shape])
    if target.kind == "class_index":
        t = b.add_input("y", ["N"], np.int64)
    else:
        t = b.add_input("y", ["N", *net.output_shape])
    for p in net.params:
        b.add_input(p.name, list(p.shape))
    mode = "eval" if kind == "eval" else "train"
    ctx = LowerCtx(b, mode, {p.name: p.name for p in net.params}, recurrent=recurrent)
    y = lower_network(net, ctx, x)
    s = scores(ldef, y, ctx.pre_activation.get(net.output))
    with b.scope("loss"):
        opts = dict(spec.loss[1])
        terms = [ldef.lower(b, s, t, num_classes=target.num_classes, **opts)]
        _regularization(b, net, terms)
        loss = terms[0] if len(terms) == 1 else b.op("Sum", terms)
    with b.scope("metrics"):
        mets = metrics(b, ldef, target, y, s, t)
    loss = b.rename(loss, "loss")
    b.add_output("loss", [])
    for k, v in mets.items():
        b.rename(v, f"metric.{k}")
        b.add_output(f"metric.{k}", [])
    return b, ctx, loss


def _gradients(b: GraphBuilder, net: Network, loss: str) -> dict[str, str]:
    trainable = net.trainable()
    return gradients(b, loss, [p.name for p in trainable]) if trainable else {}


def _gradient_graph(
    net: Network, dtype, recurrent: str
) -> tuple[onnx.ModelProto, dict[str, list[int]]]:
    """Loss, metrics and one gradient per trainable parameter; and the next value of every
    running statistic (batch norm's), which the step updates without a gradient."""
    b, ctx, loss = _loss_graph(net, dtype, "gradient", recurrent)
    grads = _gradients(b, net, loss)
    for p in net.trainable():
        b.rename(grads[p.name], f"grad.{p.name}")
        b.add_output(f"grad.{p.name}", list(p.shape))
    shapes = {p.name: list(p.shape) for p in net.params}
    for name, value in ctx.state_updates.items():
        b.rename(value, name + NEXT)
        b.add_output(name + NEXT, shapes[name])
    random_inputs = {name: list(shape) for name, shape in ctx.random_inputs}
    return simplify(b.model(doc=f"nnc gradient graph of {net.spec.name}")), random_inputs


def _update_graph(net: Network, dtype, steps_per_epoch: int) -> onnx.ModelProto:
    """Trainable parameters, their gradients (`grad.<name>`), optimizer state, step and lr ->
    `<name>.next` for the parameters and the state, grad_norm and (with a schedule) lr_used:
    exactly the update the train step applies after its gradient."""
    b = GraphBuilder(f"{net.spec.name}.update", dtype)
    trainable = net.trainable()
    for p in trainable:
        b.add_input(p.name, list(p.shape))
    grads = {p.name: b.add_input(f"grad.{p.name}", list(p.shape)) for p in trainable}
    step = b.add_input("step", [], np.int64)
    lr_in = b.add_input("lr", [])
    upd = append_update(
        b,
        trainable,
        grads,
        net.spec.optimizer,
        step,
        lr_in,
        max_norm=net.spec.regularization.get("max_norm"),
        steps_per_epoch=steps_per_epoch,
    )
    _carry_update(b, net, upd, {})
    return simplify(b.model(doc=f"nnc update graph of {net.spec.name}"))


def _carry_update(b: GraphBuilder, net: Network, upd, state_updates: dict[str, str]) -> None:
    """The `.next` outputs of an update (and of running statistics), grad_norm and lr_used."""
    shapes = {p.name: list(p.shape) for p in net.params}
    carried = {**upd.new_values, **state_updates}
    for name in [p.name for p in net.params if p.name in carried]:
        b.rename(carried[name], name + NEXT)
        b.add_output(name + NEXT, shapes[name])  # the checker wants a shape on every output
    for name, value in upd.new_state.items():
        b.rename(value, name + NEXT)
        b.add_output(name + NEXT, upd.state_shapes[name])
    b.rename(upd.grad_norm, "grad_norm")
    b.add_output("grad_norm", [])
    if upd.scheduled:  # without a schedule the rate is the `lr` input itself
        b.rename(upd.lr, "lr_used")
        b.add_output("lr_used", [])


def _train_step_graph(
    net: Network, dtype, steps_per_epoch: int, recurrent: str
) -> tuple[onnx.ModelProto, dict[str, list[int]]]:
    """The gradient graph with the optimizer update appended: every parameter, optimizer state
    and running statistic comes out as `<name>.next`, to be fed back at the next step."""
    b, ctx, loss = _loss_graph(net, dtype, "train_step", recurrent)
    grads = _gradients(b, net, loss)
    step = b.add_input("step", [], np.int64)
    lr_in = b.add_input("lr", [])
    upd = append_update(
        b,
        net.trainable(),
        grads,
        net.spec.optimizer,
        step,
        lr_in,
        max_norm=net.spec.regularization.get("max_norm"),
        steps_per_epoch=steps_per_epoch,
    )
    _carry_update(b, net, upd, ctx.state_updates)
    model = simplify(b.model(doc=f"nnc train-step graph of {net.spec.name}"))
    return model, upd.state_shapes


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
