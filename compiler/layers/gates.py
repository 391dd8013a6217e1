"""Gates: elementwise multiply and subtract merges, a parameter-free affine `scale`, and the
highway layer built from them (Srivastava et al.)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from nnc.compiler import options as o
from nnc.compiler.activations import ACTIVATIONS, activation_ref, activation_schema
from nnc.compiler.init import init_schema
from nnc.compiler.layers.base import Layer, LowerCtx, ParamDecl, PerSample, ShapeError, layer
from nnc.compiler.layers.core import _TRAINABLE, check_activation


def broadcast_shapes(inputs: Sequence[PerSample]) -> PerSample:
    """NumPy broadcasting of per-sample shapes (aligned at the last axis)."""
    try:
        return tuple(np.broadcast_shapes(*inputs))
    except ValueError:
        shapes = ", ".join(str(list(s)) for s in inputs)
        raise ShapeError(
            f"inputs of shapes {shapes} do not broadcast (each axis, counted from the last, must "
            "be equal or 1 in all but one)",
            "inputs",
        ) from None


def _aligned(ctx: LowerCtx, x: str, shape: PerSample, rank: int) -> str:
    """x [N, *shape] with 1s inserted after the batch axis up to per-sample `rank`, so that ONNX
    broadcasting (aligned at the last axis) never pairs a per-sample axis with the batch."""
    missing = rank - len(shape)
    return ctx.b.op("Unsqueeze", [x, ctx.b.ints(list(range(1, missing + 1)))]) if missing else x


class _Elementwise(Layer):
    op_type: str

    def output_shape(self, inputs):
        return broadcast_shapes(inputs)

    def lower(self, ctx, inputs):
        rank = len(self.out_shape)
        values = [_aligned(ctx, x, s, rank) for x, s in zip(inputs, self.in_shapes)]
        out = values[0]
        for other in values[1:]:
            out = ctx.b.op(self.op_type, [out, other])
        return out


@layer
class Multiply(_Elementwise):
    type = "multiply"
    description = (
        "elementwise product of its inputs (a gate); per-sample shapes broadcast as in NumPy, "
        "e.g. [4] times [1] scales every value by one number"
    )
    op_type = "Mul"
    min_inputs, max_inputs = 2, 64


@layer
class Subtract(_Elementwise):
    type = "subtract"
    description = (
        "its first input minus its second, elementwise; per-sample shapes broadcast as in NumPy"
    )
    op_type = "Sub"
    min_inputs, max_inputs = 2, 2


@layer
class Scale(Layer):
    type = "scale"
    description = (
        "y = factor * x + offset, no parameters; factor -1 and offset 1 give 1 - x (the carry "
        "gate of a highway layer)"
    )
    options = {
        "factor": o.number("multiplies every value", 1.0),
        "offset": o.number("then added to every value", 0.0),
    }

    def output_shape(self, inputs):
        return inputs[0]

    def lower(self, ctx, inputs):
        b, y = ctx.b, inputs[0]
        factor, offset = float(self.opts["factor"]), float(self.opts["offset"])
        if factor != 1.0:
            y = b.op("Mul", [y, b.scalar(factor)])
        if offset != 0.0:
            y = b.op("Add", [y, b.scalar(offset)])
        return y if y != inputs[0] else b.op("Identity", [y])


@layer
class Highway(Layer):
    type = "highway"
    description = (
        "highway layer (Srivastava et al.): y = T * H(x) + (1 - T) * x with "
        "H(x) = activation(x W_H + b_H) and the transform gate T = sigmoid(x W_T + b_T), over the "
        "last axis; as wide as its input. A negative gate_bias starts it close to the identity "
        "(carrying x), which lets deep stacks train"
    )
    options = {
        "activation": o.raw(activation_schema(), "activation of H", "relu"),
        "gate_bias": o.number(
            "initial value of every entry of b_T (the paper recommends -1 to -3)", -2.0
        ),
        "init": o.raw(init_schema(), "initializer of W_H and W_T", "glorot_uniform"),
        "bias_init": o.raw(init_schema(), "initializer of b_H", "zeros"),
        "trainable": _TRAINABLE,
    }
    activation_options = ("activation",)

    def output_shape(self, inputs):
        (shape,) = inputs
        check_activation(self.opts["activation"], shape)
        return shape

    def parameters(self, inputs):
        width = inputs[0][-1]
        trainable = self.opts["trainable"]
        decls = []
        for prefix in ("", "gate_"):
            decls.append(
                ParamDecl(
                    self.p(f"{prefix}weight"),
                    (width, width),
                    self.opts["init"],
                    fan_in=width,
                    fan_out=width,
                    trainable=trainable,
                    max_norm_axes=(0,),
                )
            )
        decls.append(
            ParamDecl(
                self.p("bias"),
                (width,),
                self.opts["bias_init"],
                fan_in=width,
                fan_out=width,
                trainable=trainable,
                regularize=False,
                role="bias",
                init_option="bias_init",
            )
        )
        decls.append(
            ParamDecl(
                self.p("gate_bias"),
                (width,),
                "zeros",
                trainable=trainable,
                regularize=False,
                role="bias",
                init_option="gate_bias",
                init_offset=np.full(width, float(self.opts["gate_bias"])),
            )
        )
        return decls

    def _affine(self, ctx: LowerCtx, x: str, prefix: str) -> str:
        b = ctx.b
        w, bias = ctx.params[self.p(f"{prefix}weight")], ctx.params[self.p(f"{prefix}bias")]
        if len(self.in_shapes[0]) == 1:
            return b.op("Gemm", [x, w, bias])
        return b.op("Add", [b.op("MatMul", [x, w]), bias])

    def lower(self, ctx, inputs):
        (x,) = inputs
        b = ctx.b
        name, opts = activation_ref(self.opts["activation"])
        with b.scope("transform"):
            h = ACTIVATIONS[name].lower(b, self._affine(ctx, x, ""), **opts)
        with b.scope("gate"):
            t = b.op("Sigmoid", [self._affine(ctx, x, "gate_")])
        # T * H + (1 - T) * x, written as x + T * (H - x): one product fewer
        return b.op("Add", [x, b.op("Mul", [t, b.op("Sub", [h, x])])])
