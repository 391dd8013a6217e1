"""Convolution, pooling and normalisation layers for channels-first [C, H, W] images and
[C, T] sequences."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from nnc.compiler import options as o
from nnc.compiler.activations import activation_schema
from nnc.compiler.init import init_schema
from nnc.compiler.layers.base import Layer, LowerCtx, ParamDecl, PerSample, ShapeError, layer
from nnc.compiler.layers.core import (
    _TRAINABLE,
    activation_name,
    apply_activation,
    check_activation,
    weight_and_bias,
)

PADDING: dict[str, Any] = {
    "oneOf": [
        {"enum": ["valid", "same"]},
        {"type": "integer", "minimum": 0},
        {"type": "array", "items": {"type": "integer", "minimum": 0}, "minItems": 2, "maxItems": 2},
    ]
}
PADDING_1D: dict[str, Any] = {
    "oneOf": [{"enum": ["valid", "same"]}, {"type": "integer", "minimum": 0}]
}
_PADDING_TEXT = (
    "'valid' (none), 'same' (output = ceil(input / stride); an odd pad goes at the end, as in "
    "TensorFlow), or zeros added on each side: n or [rows, columns]"
)
_PADDING_TEXT_1D = (
    "'valid' (none), 'same' (output = ceil(steps / stride); an odd pad goes at the end, as in "
    "TensorFlow), or n zeros added at each end"
)
_INT: dict[str, Any] = {"type": "integer", "minimum": 1}
# per spatial rank: the shape a layer takes, the names of its axes, the size schema and texts
_INPUT = {1: ("[channels, steps]", "[C, T]"), 2: ("[channels, height, width]", "[C, H, W]")}
_AXES = {1: ("steps",), 2: ("rows", "columns")}


def _tuple(value, rank: int, field: str) -> tuple[int, ...]:
    if isinstance(value, int):
        return (value,) * rank
    if len(value) != rank:
        want = "one number" if rank == 1 else f"one number or {rank}"
        raise ShapeError(f"expected {want}, got {list(value)}", field)
    return tuple(int(v) for v in value)


def _spatial(shape: PerSample, rank: int, what: str) -> tuple[int, tuple[int, ...]]:
    """(channels, spatial sizes) of a channels-first input of `rank` spatial axes."""
    if len(shape) != rank + 1:
        form, short = _INPUT[rank]
        raise ShapeError(
            f"{what} needs a {form} input, got {len(shape)} axes {list(shape)}; set input.shape "
            f"to {short} (channels first)",
            "type",
        )
    return shape[0], tuple(shape[1:])


def _image(shape: PerSample, what: str) -> tuple[int, int, int]:
    c, (h, w) = _spatial(shape, 2, what)
    return c, h, w


def resolve_pads(
    padding, size: Sequence[int], extent: Sequence[int], stride: Sequence[int]
) -> list[int]:
    """ONNX pads [begin..., end...] (2-D: [top, left, bottom, right]) for `padding` over an input
    of `size` seen by windows of dilated `extent` moving by `stride`."""
    if padding == "valid":
        return [0] * (2 * len(size))
    if padding == "same":
        begin, end = [], []
        for n, e, s in zip(size, extent, stride):
            total = max((math.ceil(n / s) - 1) * s + e - n, 0)
            begin.append(total // 2)
            end.append(total - total // 2)
        return begin + end
    each = list(_tuple(padding, len(size), "padding"))
    return each + each


def window_output(
    size: Sequence[int],
    extent: Sequence[int],
    stride: Sequence[int],
    pads: Sequence[int],
    what: str,
) -> tuple[int, ...]:
    rank = len(size)
    out = []
    for axis, (n, e, s) in enumerate(zip(size, extent, stride)):
        span = n + pads[axis] + pads[axis + rank]
        if span < e:
            padded = f" padded to {span}" if span != n else ""
            raise ShapeError(
                f"the {what} spans {e} {_AXES[rank][axis]} but the input has only "
                f"{n}{padded}; use a smaller {what}, padding, or a larger input",
                "kernel" if what == "kernel" else "size",
            )
        out.append((span - e) // s + 1)
    return tuple(out)


_ACT = o.raw(activation_schema(), "activation applied to the convolution's output", "linear")


def _conv_options(rank: int) -> dict[str, o.Option]:
    if rank == 2:
        size, text, pad, pad_text = o.INT_OR_PAIR, ": n or [height, width]", PADDING, _PADDING_TEXT
        step, taps = ": n or [rows, columns]", ": n or [rows, columns]"
        shape, fan = "[filters, C/groups, kh, kw]", "C/groups*kh*kw, fan_out = filters*kh*kw/groups"
    else:
        size, text, pad, pad_text = _INT, " in steps", PADDING_1D, _PADDING_TEXT_1D
        step, taps = " in steps", " in steps"
        shape, fan = "[filters, C/groups, k]", "C/groups*k, fan_out = filters*k/groups"
    return {
        "filters": o.integer("number of output channels", minimum=1),
        "kernel": o.raw(size, "kernel size" + text),
        "stride": o.raw(size, "step between windows" + step, 1),
        "padding": o.raw(pad, pad_text, "valid"),
        "dilation": o.raw(size, "spacing between kernel taps (1: a dense kernel)" + taps, 1),
        "groups": o.integer(
            "split channels into this many groups convolved separately (AlexNet's two towers); "
            "channels and filters must be divisible by it",
            1,
            minimum=1,
        ),
        "use_bias": o.boolean("add a bias per filter", True),
        "activation": _ACT,
        "init": o.raw(
            init_schema(), f"initializer of the weights; fan_in = {fan}", "glorot_uniform"
        ),
        "bias_init": o.raw(init_schema(), "initializer of the bias", "zeros"),
        "weights": o.raw({"type": "array"}, f"explicit weight values, shape {shape}", None),
        "bias": o.raw({"type": "array"}, "explicit bias values, shape [filters]", None),
        "trainable": _TRAINABLE,
    }


class _Conv(Layer):
    rank: int
    activation_options = ("activation",)

    def _geometry(self, shape: PerSample):
        c, size = _spatial(shape, self.rank, self.type)
        kernel = _tuple(self.opts["kernel"], self.rank, "kernel")
        stride = _tuple(self.opts["stride"], self.rank, "stride")
        dilation = _tuple(self.opts["dilation"], self.rank, "dilation")
        groups, filters = self.opts["groups"], self.opts["filters"]
        if c % groups:
            raise ShapeError(f"{c} input channels cannot be split into {groups} groups", "groups")
        if filters % groups:
            raise ShapeError(f"{filters} filters cannot be split into {groups} groups", "groups")
        extent = [(k - 1) * d + 1 for k, d in zip(kernel, dilation)]
        pads = resolve_pads(self.opts["padding"], size, extent, stride)
        out = window_output(size, extent, stride, pads, "kernel")
        return c, kernel, stride, dilation, pads, out

    def output_shape(self, inputs):
        *_, out = self._geometry(inputs[0])
        shape = (self.opts["filters"], *out)
        check_activation(self.opts["activation"], shape)
        return shape

    def parameters(self, inputs):
        c, kernel, *_ = self._geometry(inputs[0])
        filters, groups = self.opts["filters"], self.opts["groups"]
        shape = (filters, c // groups, *kernel)
        taps = math.prod(kernel)
        fan_in, fan_out = c // groups * taps, filters * taps // groups
        # max_norm bounds each filter's incoming weights
        axes = tuple(range(1, self.rank + 2))
        return weight_and_bias(self, shape, filters, fan_in, fan_out, max_norm_axes=axes)

    def lower(self, ctx, inputs):
        _, kernel, stride, dilation, pads, _ = self._geometry(self.in_shapes[0])
        bias = ctx.params.get(self.p("bias"))
        z = ctx.b.op(
            "Conv",
            [inputs[0], ctx.params[self.p("weight")]] + ([bias] if bias else []),
            kernel_shape=list(kernel),
            strides=list(stride),
            pads=pads,
            dilations=list(dilation),
            group=self.opts["groups"],
        )
        return apply_activation(ctx, self.name, self.opts["activation"], z)

    def final_activation(self):
        return activation_name(self.opts["activation"])


@layer
class Conv2D(_Conv):
    type = "conv2d"
    rank = 2
    description = (
        "2-D convolution (cross-correlation) of [C, H, W] inputs with `filters` kernels of shape "
        "[C / groups, kh, kw]; output [filters, H', W']"
    )
    options = _conv_options(2)


@layer
class Conv1D(_Conv):
    type = "conv1d"
    rank = 1
    description = (
        "1-D convolution (cross-correlation) of [C, T] sequences (channels first, as PyTorch's "
        "Conv1d) with `filters` kernels of shape [C / groups, k]; output [filters, T']"
    )
    options = _conv_options(1)


def _pool_options(rank: int) -> dict[str, o.Option]:
    if rank == 2:
        size, text, pad, pad_text = o.INT_OR_PAIR, "n or [height, width]", PADDING, _PADDING_TEXT
    else:
        size, text, pad, pad_text = _INT, "n steps", PADDING_1D, _PADDING_TEXT_1D
    return {
        "size": o.raw(size, f"window size: {text}", 2),
        "stride": o.raw(size, "step between windows (default: the window size, no overlap)", None),
        "padding": o.raw(pad, pad_text, "valid"),
    }


_COUNT_INCLUDE_PAD = o.boolean(
    "divide by the whole window also where it overlaps the padding (PyTorch's default); "
    "false divides by the values inside the input (Keras/TensorFlow)",
    False,
)


class _Pool(Layer):
    op_type: str
    rank: int

    def _geometry(self, shape: PerSample):
        c, spatial = _spatial(shape, self.rank, self.type)
        size = _tuple(self.opts["size"], self.rank, "size")
        stride = _tuple(self.opts["stride"] or self.opts["size"], self.rank, "stride")
        pads = resolve_pads(self.opts["padding"], spatial, size, stride)
        for axis in range(self.rank):
            widest = max(pads[axis], pads[axis + self.rank])
            if widest >= size[axis]:
                raise ShapeError(
                    f"padding {widest} is not smaller than the window "
                    f"({size[axis]}): a window would see only padding",
                    "padding",
                )
        return c, size, stride, pads, window_output(spatial, size, stride, pads, "window")

    def output_shape(self, inputs):
        c, *_, out = self._geometry(inputs[0])
        return (c, *out)

    def attrs(self, size, stride, pads) -> dict:
        return {"kernel_shape": list(size), "strides": list(stride), "pads": pads}

    def lower(self, ctx, inputs):
        _, size, stride, pads, _ = self._geometry(self.in_shapes[0])
        return ctx.b.op(self.op_type, [inputs[0]], **self.attrs(size, stride, pads))


class _AvgPool(_Pool):
    op_type = "AveragePool"

    def attrs(self, size, stride, pads):
        return {
            **super().attrs(size, stride, pads),
            "count_include_pad": int(self.opts["count_include_pad"]),
        }


@layer
class MaxPool2D(_Pool):
    type = "max_pool2d"
    op_type = "MaxPool"
    rank = 2
    description = "maximum over each window of every channel (padding never wins)"
    options = _pool_options(2)


@layer
class AvgPool2D(_AvgPool):
    type = "avg_pool2d"
    rank = 2
    description = "mean over each window of every channel"
    options = {**_pool_options(2), "count_include_pad": _COUNT_INCLUDE_PAD}


@layer
class MaxPool1D(_Pool):
    type = "max_pool1d"
    op_type = "MaxPool"
    rank = 1
    description = (
        "maximum over each window of steps of every channel of [C, T] (padding never wins)"
    )
    options = _pool_options(1)


@layer
class AvgPool1D(_AvgPool):
    type = "avg_pool1d"
    rank = 1
    description = "mean over each window of steps of every channel of [C, T]"
    options = {**_pool_options(1), "count_include_pad": _COUNT_INCLUDE_PAD}


class _GlobalAvgPool(Layer):
    rank: int

    def output_shape(self, inputs):
        c, _ = _spatial(inputs[0], self.rank, self.type)
        return (c,)

    def lower(self, ctx, inputs):
        pooled = ctx.b.op("GlobalAveragePool", [inputs[0]])
        return ctx.b.op("Flatten", [pooled], axis=1)


@layer
class GlobalAvgPool2D(_GlobalAvgPool):
    type = "global_avg_pool2d"
    rank = 2
    description = "mean of each channel over all positions: [C, H, W] -> [C] (as Keras)"


@layer
class GlobalAvgPool1D(_GlobalAvgPool):
    type = "global_avg_pool1d"
    rank = 1
    description = "mean of each channel over all steps: [C, T] -> [C] (as Keras)"


@layer
class BatchNorm(Layer):
    type = "batch_norm"
    description = (
        "batch normalisation per channel (axis 0 of each sample: [C, H, W] or [F]): training "
        "normalises with the batch's statistics and updates running ones; inference uses those"
    )
    options = {
        "momentum": o.number(
            "running = momentum * running + (1 - momentum) * batch (Keras' convention; "
            "PyTorch's momentum 0.1 is 0.9 here)",
            0.9,
            minimum=0,
            maximum=1,
        ),
        "epsilon": o.number(
            "added to the variance before the square root (ONNX, PyTorch and MATLAB use 1e-5)",
            1e-5,
            exclusive_minimum=0,
        ),
        "scale": o.boolean("learn a scale gamma per channel", True),
        "center": o.boolean("learn an offset beta per channel", True),
        "gamma_init": o.raw(init_schema(), "initializer of the scale", "ones"),
        "beta_init": o.raw(init_schema(), "initializer of the offset", "zeros"),
        "trainable": o.boolean(
            "false freezes gamma and beta and the running statistics, and normalises with the "
            "running statistics also in training (as Keras does for a frozen layer)",
            True,
        ),
    }

    def output_shape(self, inputs):
        (shape,) = inputs
        return shape

    def parameters(self, inputs):
        c = inputs[0][0]
        trainable = self.opts["trainable"]
        decls = []
        for short, flag, init in (
            ("gamma", "scale", "gamma_init"),
            ("beta", "center", "beta_init"),
        ):
            if self.opts[flag]:
                decls.append(
                    ParamDecl(
                        self.p(short),
                        (c,),
                        self.opts[init],
                        fan_in=c,
                        fan_out=c,
                        trainable=trainable,
                        regularize=False,
                        role=short,
                        init_option=init,
                    )
                )
        for short, init in (("running_mean", "zeros"), ("running_var", "ones")):
            decls.append(
                ParamDecl(
                    self.p(short),
                    (c,),
                    init,
                    trainable=False,
                    regularize=False,
                    state=True,
                    role=short,
                )
            )
        return decls

    def lower(self, ctx: LowerCtx, inputs):
        (x,) = inputs
        b = ctx.b
        shape = self.in_shapes[0]
        c, eps = shape[0], float(self.opts["epsilon"])
        gamma, beta = ctx.params.get(self.p("gamma")), ctx.params.get(self.p("beta"))
        mean, var = ctx.params[self.p("running_mean")], ctx.params[self.p("running_var")]
        if not (ctx.training and self.opts["trainable"]):
            scale = gamma or b.const(np.ones(c))
            offset = beta or b.const(np.zeros(c))
            if ctx.mode == "infer":  # statistics are constants: the fused operator
                return b.op("BatchNormalization", [x, scale, offset, mean, var], epsilon=eps)
            # in training and eval graphs the statistics are inputs, which some runtimes (tract)
            # refuse for BatchNormalization: the same arithmetic in plain ops
            per_channel = [c] + [1] * (len(shape) - 1)
            gain = b.op("Div", [scale, b.op("Sqrt", [b.op("Add", [var, b.scalar(eps)])])])
            shift = b.op("Sub", [offset, b.op("Mul", [mean, gain])])
            y = b.op("Mul", [x, self._broadcast(b, gain, per_channel)])
            return b.op("Add", [y, self._broadcast(b, shift, per_channel)])

        # Batch statistics from plain reductions, so the gradient flows through the mean and
        # the variance by the rules of ReduceMean, Sub, Mul, Sqrt, Reciprocal.
        axes = b.ints([0, *range(2, len(shape) + 1)])
        per_channel = [c] + [1] * (len(shape) - 1)  # broadcasts against [N, *shape]
        start = len(b.nodes)
        batch_mean = b.op("ReduceMean", [x, axes], keepdims=1)
        centred = b.op("Sub", [x, batch_mean])
        batch_var = b.op("ReduceMean", [b.op("Mul", [centred, centred]), axes], keepdims=1)
        inv_std = b.op("Reciprocal", [b.op("Sqrt", [b.op("Add", [batch_var, b.scalar(eps)])])])
        xhat = b.op("Mul", [centred, inv_std])
        y = xhat
        if gamma:
            y = b.op("Mul", [y, self._broadcast(b, gamma, per_channel)])
        if beta:
            y = b.op("Add", [y, self._broadcast(b, beta, per_channel)])
        # differentiated as a whole by the batch-norm rule in autodiff/rules_conv.py: a few
        # passes over the activations instead of one per op in the formula above
        b.mark_region(
            "BatchNormTrain",
            start,
            [x, gamma or "", beta or ""],
            [y],
            saved={"xhat": xhat, "inv_std": inv_std},
            per_channel=per_channel,
            axes=[0, *range(2, len(shape) + 1)],
        )

        with b.scope("running"):
            # The running variance is the unbiased estimate (m / (m - 1) times the batch's), as
            # in Ioffe & Szegedy's inference step and PyTorch; m is the number of values per
            # channel. max(m - 1, 1) keeps a batch of one finite.
            to_c = b.ints([c])
            m = b.op("Div", [b.count(x), b.count(batch_mean)])
            unbiased = b.op(
                "Div", [m, b.op("Max", [b.op("Sub", [m, b.scalar(1.0)]), b.scalar(1.0)])]
            )
            momentum = float(self.opts["momentum"])
            for name, running, batch in (
                ("running_mean", mean, b.op("Reshape", [batch_mean, to_c])),
                ("running_var", var, b.op("Mul", [b.op("Reshape", [batch_var, to_c]), unbiased])),
            ):
                ctx.state_updates[self.p(name)] = b.op(
                    "Add",
                    [
                        b.op("Mul", [running, b.scalar(momentum)]),
                        b.op("Mul", [batch, b.scalar(1.0 - momentum)]),
                    ],
                )
        return y

    @staticmethod
    def _broadcast(b, param: str, per_channel: list[int]) -> str:
        if len(per_channel) == 1:
            return param
        return b.op("Reshape", [param, b.ints(per_channel)])


@layer
class LocalResponseNorm(Layer):
    type = "local_response_norm"
    description = (
        "local response normalisation across channels (AlexNet): "
        "y = x / (bias + alpha / size * sum of x^2 over `size` neighbouring channels)^beta"
    )
    options = {
        "size": o.integer(
            "number of neighbouring channels summed, centred on each (odd)", 5, minimum=1
        ),
        "alpha": o.number(
            "scale of the sum of squares, divided by size as in ONNX, Caffe and PyTorch "
            "(Krizhevsky et al. do not divide: their alpha 1e-4 is 5e-4 here for size 5)",
            1e-4,
            minimum=0,
        ),
        "beta": o.number("exponent", 0.75, minimum=0),
        "bias": o.number("additive constant k", 2.0, exclusive_minimum=0),
    }

    def output_shape(self, inputs):
        _image(inputs[0], self.type)
        if self.opts["size"] % 2 == 0:
            # ONNX allows an even window (one more channel after than before), but ONNX
            # Runtime's LRN kernel refuses it
            raise ShapeError(
                f"size {self.opts['size']} is even; use an odd size (a window centred on each "
                "channel) so that every ONNX runtime can run it",
                "size",
            )
        return inputs[0]

    def lower(self, ctx, inputs):
        return ctx.b.op(
            "LRN",
            [inputs[0]],
            size=self.opts["size"],
            alpha=float(self.opts["alpha"]),
            beta=float(self.opts["beta"]),
            bias=float(self.opts["bias"]),
        )
