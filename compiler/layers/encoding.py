"""Positional encoding (NeRF): coordinates to sines and cosines of growing frequency."""

from __future__ import annotations

import math

import numpy as np

from nnc.compiler import options as o
from nnc.compiler.layers.base import Layer, ShapeError, layer


@layer
class PositionalEncoding(Layer):
    type = "positional_encoding"
    description = (
        "NeRF's positional encoding of the last axis (F coordinates p): gamma(p) = (p, "
        "sin(2^0 pi p), cos(2^0 pi p), ..., sin(2^(L-1) pi p), cos(2^(L-1) pi p)), in this order: "
        "the raw p first (with include_input), then per frequency k = 0..L-1 the F sines and "
        "then the F cosines (as NeRF's code orders them); output width F * (include_input + 2L). "
        "No parameters: an exported model takes the raw coordinates"
    )
    options = {
        "frequencies": o.integer(
            "L, the number of frequencies 2^0 pi .. 2^(L-1) pi (NeRF: 10 for positions, 4 for "
            "directions)",
            10,
            minimum=1,
            maximum=30,
        ),
        "include_input": o.boolean("put the raw coordinates first, as NeRF does", True),
    }

    def output_shape(self, inputs):
        (shape,) = inputs
        if not shape:
            raise ShapeError("needs at least one coordinate axis", "type")
        width = shape[-1] * (int(self.opts["include_input"]) + 2 * self.opts["frequencies"])
        return (*shape[:-1], width)

    def lower(self, ctx, inputs):
        (x,) = inputs
        b = ctx.b
        shape = self.in_shapes[0]
        levels = self.opts["frequencies"]
        bands = np.array([[2.0**k * math.pi] for k in range(levels)])  # [L, 1]
        angles = b.op("Mul", [b.op("Unsqueeze", [x, b.ints([-2])]), b.const(bands)])  # [.., L, F]
        waves = b.op("Concat", [b.op("Sin", [angles]), b.op("Cos", [angles])], axis=-1)
        # [.., L, 2F] -> [.., 2LF]: frequency-major, sines before cosines within a frequency
        flat = b.op("Reshape", [waves, b.ints([0] * len(shape) + [2 * levels * shape[-1]])])
        if not self.opts["include_input"]:
            return flat
        return b.op("Concat", [x, flat], axis=-1)
