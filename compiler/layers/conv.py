"""Convolution, pooling and normalisation layers for channels-first [C, H, W] images."""

from __future__ import annotations

import math
from collections.abc import Sequence

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

PADDING = {
    "oneOf": [
        {"enum": ["valid", "same"]},
        {"type": "integer", "minimum": 0},
        {"type": "array", "items": {"type": "integer", "minimum": 0}, "minItems": 2, "maxItems": 2},
    ]
}
_PADDING_TEXT = (
    "'valid' (none), 'same' (output = ceil(input / stride); an odd pad goes at the end, as in "
    "TensorFlow), or zeros added on each side: n or [rows, columns]"
)


def _pair(value, field: str) -> tuple[int, int]:
    if isinstance(value, int):
        return value, value
    if len(value) != 2:
        raise ShapeError(f"expected one number or a pair, got {list(value)}", field)
    return int(value[0]), int(value[1])


def _image(shape: PerSample, what: str) -> tuple[int, int, int]:
    if len(shape) != 3:
        raise ShapeError(
            f"{what} needs a [channels, height, width] input, got {len(shape)} axes "
            f"{list(shape)}; set input.shape to [C, H, W] (channels first)",
            "type",
        )
    return shape[0], shape[1], shape[2]


def resolve_pads(
    padding, size: Sequence[int], extent: Sequence[int], stride: Sequence[int]
) -> list[int]:
    """ONNX pads [top, left, bottom, right] for `padding` over an input of `size` (H, W) seen by
    windows of dilated `extent` moving by `stride`."""
    if padding == "valid":
        return [0, 0, 0, 0]
    if padding == "same":
        begin, end = [], []
        for n, e, s in zip(size, extent, stride):
            total = max((math.ceil(n / s) - 1) * s + e - n, 0)
            begin.append(total // 2)
            end.append(total - total // 2)
        return begin + end
    rows, cols = _pair(padding, "padding")
    return [rows, cols, rows, cols]


def window_output(
    size: Sequence[int],
    extent: Sequence[int],
    stride: Sequence[int],
    pads: Sequence[int],
    what: str,
) -> tuple[int, int]:
    out = []
    for axis, (n, e, s) in enumerate(zip(size, extent, stride)):
        span = n + pads[axis] + pads[axis + 2]
        if span < e:
            padded = f" padded to {span}" if span != n else ""
            raise ShapeError(
                f"the {what} spans {e} {('rows', 'columns')[axis]} but the input has only "
                f"{n}{padded}; use a smaller {what}, padding, or a larger input",
                "kernel" if what == "kernel" else "size",
            )
        out.append((span - e) // s + 1)
    return out[0], out[1]


_ACT = o.raw(activation_schema(), "activation applied to the convolution's output", "linear")


@layer
class Conv2D(Layer):
    type = "conv2d"
    description = (
        "2-D convolution (cross-correlation) of [C, H, W] inputs with `filters` kernels of shape "
        "[C / groups, kh, kw]; output [filters, H', W']"
    )
    options = {
        "filters": o.integer("number of output channels", minimum=1),
        "kernel": o.raw(o.INT_OR_PAIR, "kernel size: n or [height, width]"),
        "stride": o.raw(o.INT_OR_PAIR, "step between windows: n or [rows, columns]", 1),
        "padding": o.raw(PADDING, _PADDING_TEXT, "valid"),
        "dilation": o.raw(
            o.INT_OR_PAIR,
            "spacing between kernel taps (1: a dense kernel): n or [rows, columns]",
            1,
        ),
        "groups": o.integer(
            "split channels into this many groups convolved separately (AlexNet's two towers); "
            "channels and filters must be divisible by it",
            1,
            minimum=1,
        ),
        "use_bias": o.boolean("add a bias per filter", True),
        "activation": _ACT,
        "init": o.raw(
            init_schema(),
            "initializer of the weights; fan_in = C/groups*kh*kw, fan_out = filters*kh*kw/groups",
            "glorot_uniform",
        ),
        "bias_init": o.raw(init_schema(), "initializer of the bias", "zeros"),
        "weights": o.raw(
            {"type": "array"}, "explicit weight values, shape [filters, C/groups, kh, kw]", None
        ),
        "bias": o.raw({"type": "array"}, "explicit bias values, shape [filters]", None),
        "trainable": _TRAINABLE,
    }

    def _geometry(self, shape: PerSample):
        c, h, w = _image(shape, "conv2d")
        kernel = _pair(self.opts["kernel"], "kernel")
        stride = _pair(self.opts["stride"], "stride")
        dilation = _pair(self.opts["dilation"], "dilation")
        groups, filters = self.opts["groups"], self.opts["filters"]
        if c % groups:
            raise ShapeError(f"{c} input channels cannot be split into {groups} groups", "groups")
        if filters % groups:
            raise ShapeError(f"{filters} filters cannot be split into {groups} groups", "groups")
        extent = [(k - 1) * d + 1 for k, d in zip(kernel, dilation)]
        pads = resolve_pads(self.opts["padding"], (h, w), extent, stride)
        out = window_output((h, w), extent, stride, pads, "kernel")
        return c, kernel, stride, dilation, pads, out

    def output_shape(self, inputs):
        _, _, _, _, _, (oh, ow) = self._geometry(inputs[0])
        out = (self.opts["filters"], oh, ow)
        check_activation(self.opts["activation"], out)
        return out

    def parameters(self, inputs):
        c, (kh, kw), *_ = self._geometry(inputs[0])
        filters, groups = self.opts["filters"], self.opts["groups"]
        shape = (filters, c // groups, kh, kw)
        fan_in, fan_out = c // groups * kh * kw, filters * kh * kw // groups
        # max_norm bounds each filter's incoming weights
        return weight_and_bias(self, shape, filters, fan_in, fan_out, max_norm_axes=(1, 2, 3))

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


class _Pool2D(Layer):
    op_type: str
    options = {
        "size": o.raw(o.INT_OR_PAIR, "window size: n or [height, width]", 2),
        "stride": o.raw(
            o.INT_OR_PAIR, "step between windows (default: the window size, no overlap)", None
        ),
        "padding": o.raw(PADDING, _PADDING_TEXT, "valid"),
    }

    def _geometry(self, shape: PerSample):
        c, h, w = _image(shape, self.type)
        size = _pair(self.opts["size"], "size")
        stride = _pair(self.opts["stride"] or self.opts["size"], "stride")
        pads = resolve_pads(self.opts["padding"], (h, w), size, stride)
        for axis in range(2):
            if max(pads[axis], pads[axis + 2]) >= size[axis]:
                raise ShapeError(
                    f"padding {max(pads[axis], pads[axis + 2])} is not smaller than the window "
                    f"({size[axis]}): a window would see only padding",
                    "padding",
                )
        return c, size, stride, pads, window_output((h, w), size, stride, pads, "window")

    def output_shape(self, inputs):
        c, *_, (oh, ow) = self._geometry(inputs[0])
        return (c, oh, ow)

    def attrs(self, size, stride, pads) -> dict:
        return {"kernel_shape": list(size), "strides": list(stride), "pads": pads}

    def lower(self, ctx, inputs):
        _, size, stride, pads, _ = self._geometry(self.in_shapes[0])
        return ctx.b.op(self.op_type, [inputs[0]], **self.attrs(size, stride, pads))


@layer
class MaxPool2D(_Pool2D):
    type = "max_pool2d"
    op_type = "MaxPool"
    description = "maximum over each window of every channel (padding never wins)"


@layer
class AvgPool2D(_Pool2D):
    type = "avg_pool2d"
    op_type = "AveragePool"
    description = "mean over each window of every channel"
    options = {
        **_Pool2D.options,
        "count_include_pad": o.boolean(
            "divide by the whole window also where it overlaps the padding (PyTorch's default); "
            "false divides by the values inside the input (Keras/TensorFlow)",
            False,
        ),
    }

    def attrs(self, size, stride, pads):
        return {
            **super().attrs(size, stride, pads),
            "count_include_pad": int(self.opts["count_include_pad"]),
        }


@layer
class GlobalAvgPool2D(Layer):
    type = "global_avg_pool2d"
    description = "mean of each channel over all positions: [C, H, W] -> [C] (as Keras)"

    def output_shape(self, inputs):
        c, _, _ = _image(inputs[0], self.type)
        return (c,)

    def lower(self, ctx, inputs):
        pooled = ctx.b.op("GlobalAveragePool", [inputs[0]])
        return ctx.b.op("Flatten", [pooled], axis=1)


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
