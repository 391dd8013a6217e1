"""Dense, activation, dropout, flatten, reshape and merge layers."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from nnc.compiler import options as o
from nnc.compiler.activations import ACTIVATIONS, activation_ref, activation_schema
from nnc.compiler.init import init_schema
from nnc.compiler.layers.base import Layer, LowerCtx, ParamDecl, PerSample, ShapeError, layer

_TRAINABLE = o.boolean("false freezes the layer's parameters (they are never updated)", True)


def apply_activation(ctx: LowerCtx, layer_name: str, act, x: str) -> str:
    name, opts = activation_ref(act)
    if name == "linear":
        return x
    with ctx.b.scope("act"):
        y = ACTIVATIONS[name].lower(ctx.b, x, **opts)
    ctx.pre_activation[layer_name] = (name, x)
    return y


def activation_name(act) -> str | None:
    name, _ = activation_ref(act)
    return None if name == "linear" else name


def check_activation(act, shape: PerSample, field: str = "activation") -> None:
    name, _ = activation_ref(act)
    if ACTIVATIONS[name].over_last_axis and shape[-1] == 1:
        raise ShapeError(
            f"{name} over a single value is constant (always {'1' if name == 'softmax' else '0'}); "
            "use sigmoid for one binary output, or more units",
            field,
        )


def _values(value, shape: PerSample, what: str, field: str) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (ValueError, TypeError):
        msg = f"{what} must be a (nested) list of numbers of shape {list(shape)}"
        raise ShapeError(msg, field) from None
    if arr.shape != tuple(shape):
        raise ShapeError(
            f"{what} has shape {list(arr.shape)} but this layer needs {list(shape)}", field
        )
    return arr


def weight_and_bias(
    layer: Layer,
    w_shape: PerSample,
    units: int,
    fan_in: int,
    fan_out: int,
    max_norm_axes: tuple[int, ...],
) -> list[ParamDecl]:
    """The `weight` (and unless use_bias is false, `bias`) of a dense or convolution layer, from
    its init options or its explicit `weights`/`bias` values."""
    opts = layer.opts
    w_value, b_value = opts.get("weights"), opts.get("bias")
    decls = [
        ParamDecl(
            layer.p("weight"),
            tuple(w_shape),
            None if w_value is not None else opts["init"],
            fan_in=fan_in,
            fan_out=fan_out,
            trainable=opts["trainable"],
            value=None if w_value is None else _values(w_value, w_shape, "weights", "weights"),
            max_norm_axes=max_norm_axes,
        )
    ]
    if b_value is not None and not opts["use_bias"]:
        raise ShapeError("bias values are given but use_bias is false", "bias")
    if opts["use_bias"]:
        decls.append(
            ParamDecl(
                layer.p("bias"),
                (units,),
                None if b_value is not None else opts["bias_init"],
                fan_in=fan_in,
                fan_out=fan_out,
                trainable=opts["trainable"],
                value=None if b_value is None else _values(b_value, (units,), "bias", "bias"),
                regularize=False,
                role="bias",
                init_option="bias_init",
            )
        )
    return decls


@layer
class Dense(Layer):
    type = "dense"
    description = (
        "fully connected: y = activation(x W + b) over the last axis; W is [inputs, units]"
    )
    options = {
        "units": o.integer("number of output units", minimum=1),
        "activation": o.raw(activation_schema(), "activation applied to x W + b", "linear"),
        "use_bias": o.boolean("add a bias vector", True),
        "init": o.raw(init_schema(), "initializer of the weights", "glorot_uniform"),
        "bias_init": o.raw(init_schema(), "initializer of the bias", "zeros"),
        "weights": o.raw({"type": "array"}, "explicit weight values, shape [inputs, units]", None),
        "bias": o.raw({"type": "array"}, "explicit bias values, shape [units]", None),
        "trainable": _TRAINABLE,
    }
    activation_options = ("activation",)

    def output_shape(self, inputs):
        (shape,) = inputs
        out = (*shape[:-1], self.opts["units"])
        check_activation(self.opts["activation"], out)
        return out

    def parameters(self, inputs):
        (shape,) = inputs
        n_in, units = shape[-1], self.opts["units"]
        return weight_and_bias(self, (n_in, units), units, n_in, units, max_norm_axes=(0,))

    def lower(self, ctx, inputs):
        (x,) = inputs
        b = ctx.b
        w = ctx.params[self.p("weight")]
        bias = ctx.params.get(self.p("bias"))
        if len(self.in_shapes[0]) == 1:
            z = b.op("Gemm", [x, w] + ([bias] if bias else []))
        else:
            z = b.op("MatMul", [x, w])
            if bias:
                z = b.op("Add", [z, bias])
        return apply_activation(ctx, self.name, self.opts["activation"], z)

    def final_activation(self):
        return activation_name(self.opts["activation"])


def _activation_layer(act_name: str) -> type[Layer]:
    act = ACTIVATIONS[act_name]

    class ActivationLayer(Layer):
        type = act_name
        description = f"activation layer: {act.description}"
        options = dict(act.options)

        def output_shape(self, inputs):
            (shape,) = inputs
            check_activation(act_name, shape, field="type")
            return shape

        def lower(self, ctx, inputs):
            ref = {"type": act_name, **{k: self.opts[k] for k in act.options}}
            return apply_activation(ctx, self.name, ref, inputs[0])

        def final_activation(self):
            return act_name

        def activations(self):
            return [("type", act_name)]

    ActivationLayer.__name__ = f"Activation_{act_name}"
    return ActivationLayer


for _name in ACTIVATIONS.names():
    if _name != "linear":
        layer(_activation_layer(_name))


@layer
class Dropout(Layer):
    type = "dropout"
    description = (
        "zeroes each value with probability `rate` in training (scaling the rest by 1/(1-rate)); "
        "identity at inference"
    )
    options = {
        "rate": o.number("probability of dropping a value", 0.5, minimum=0, exclusive_maximum=1)
    }
    look_through = True

    def passes_activation(self, act, elementwise):
        # dropping logits is not dropping probabilities: only a rate-0 dropout is transparent
        return float(self.opts["rate"]) == 0.0

    def output_shape(self, inputs):
        return inputs[0]

    def lower(self, ctx, inputs):
        (x,) = inputs
        rate = float(self.opts["rate"])
        if not ctx.training or rate == 0.0:
            return x
        b = ctx.b
        # The mask comes from a uniform [0,1) tensor the trainer feeds from its seeded RNG: the
        # same step gives the same mask on every engine, and resume reproduces it exactly.
        u = f"{self.name}.uniform"
        b.add_input(u, ["N", *self.out_shape])
        ctx.random_inputs.append((u, self.out_shape))
        keep = b.op("Less", [u, b.scalar(1.0 - rate)])
        mask = b.op("Mul", [b.op("Cast", [keep], to=_float(b)), b.scalar(1.0 / (1.0 - rate))])
        return b.op("Mul", [x, mask])


def _float(b) -> int:
    from nnc.compiler.builder import elem_type

    return elem_type(b.dtype)


@layer
class Flatten(Layer):
    type = "flatten"
    description = "reshape each sample to a vector"
    look_through = True

    def passes_activation(self, act, elementwise):
        return elementwise or len(self.in_shapes[0]) == 1

    def output_shape(self, inputs):
        return (int(np.prod(inputs[0])),)

    def lower(self, ctx, inputs):
        if len(self.in_shapes[0]) == 1:
            return inputs[0]
        return ctx.b.op("Flatten", [inputs[0]], axis=1)


@layer
class Reshape(Layer):
    type = "reshape"
    description = "reshape each sample; one dimension may be -1 (inferred)"
    options = {
        "shape": o.raw(
            {"type": "array", "items": {"type": "integer", "minimum": -1}, "minItems": 1},
            "the new per-sample shape",
        )
    }

    look_through = True

    def passes_activation(self, act, elementwise):
        # an activation over the last axis survives a reshape that keeps that axis whole
        return elementwise or self.in_shapes[0][-1] == self.out_shape[-1]

    def output_shape(self, inputs):
        target = list(self.opts["shape"])
        size = int(np.prod(inputs[0]))
        if target.count(-1) > 1:
            raise ShapeError("at most one dimension may be -1", "shape")
        if any(d == 0 for d in target):
            raise ShapeError("dimensions must be positive (or one -1)", "shape")
        known = int(np.prod([d for d in target if d != -1]))
        if -1 in target:
            if size % known:
                raise ShapeError(
                    f"cannot reshape {list(inputs[0])} ({size} values) to {target}", "shape"
                )
            target[target.index(-1)] = size // known
        elif known != size:
            raise ShapeError(
                f"cannot reshape {list(inputs[0])} ({size} values) to {target} ({known} values)",
                "shape",
            )
        return tuple(target)

    def lower(self, ctx, inputs):
        return ctx.b.op("Reshape", [inputs[0], ctx.b.ints([-1, *self.out_shape])])


@layer
class AddLayer(Layer):
    type = "add"
    description = "elementwise sum of its inputs (a residual connection)"
    min_inputs, max_inputs = 2, 64

    def output_shape(self, inputs):
        first = inputs[0]
        for other in inputs[1:]:
            if other != first:
                raise ShapeError(
                    f"inputs have different shapes {list(first)} and {list(other)}", "inputs"
                )
        return first

    def lower(self, ctx, inputs):
        out = inputs[0]
        for other in inputs[1:]:
            out = ctx.b.op("Add", [out, other])
        return out


@layer
class Concat(Layer):
    type = "concat"
    description = "concatenate its inputs along a per-sample axis"
    options = {"axis": o.integer("per-sample axis (negative counts from the end)", -1)}
    min_inputs, max_inputs = 2, 64

    def _axis(self, rank: int) -> int:
        axis = self.opts["axis"]
        if not -rank <= axis < rank:
            raise ShapeError(f"axis {axis} is out of range for per-sample rank {rank}", "axis")
        return axis % rank

    def output_shape(self, inputs: Sequence[PerSample]):
        rank = len(inputs[0])
        axis = self._axis(rank)
        for s in inputs[1:]:
            if len(s) != rank or any(
                a != b for i, (a, b) in enumerate(zip(s, inputs[0])) if i != axis
            ):
                raise ShapeError(
                    f"inputs {[list(x) for x in inputs]} differ outside the concat axis", "inputs"
                )
        out = list(inputs[0])
        out[axis] = sum(s[axis] for s in inputs)
        return tuple(out)

    def lower(self, ctx, inputs):
        rank = len(self.out_shape)
        return ctx.b.op("Concat", list(inputs), axis=self._axis(rank) + 1)
