import math

import numpy as np

from nnc.runtime.interpreter.kernel import Kernel, int_list
from nnc.runtime.interpreter.registry import register
from nnc.runtime.interpreter.windows import (
    conv_pads,
    crop,
    defaults,
    effective,
    output_size,
    overlap_add,
)


@register("Col2Im")
class Col2Im(Kernel):
    """Rearranges column blocks [N, C * prod(block), L] into an image, summing overlaps."""

    def run(self, x, image_shape, block_shape, *, dilations=None, pads=None, strides=None):
        image, block = int_list(image_shape), int_list(block_shape)
        n = len(image)
        strides, dilations = defaults(strides, n, 1), defaults(dilations, n, 1)
        begin, end = conv_pads(image, block, strides, dilations, pads, "NOTSET")
        positions = [
            output_size(length, extent, s, b0, e0)
            for length, extent, s, b0, e0 in zip(
                image, effective(block, dilations), strides, begin, end, strict=False
            )
        ]
        if math.prod(positions) != x.shape[2]:
            raise ValueError(f"{x.shape[2]} columns, but the geometry gives {positions} blocks")
        channels = x.shape[1] // math.prod(block)
        blocks = x.reshape((x.shape[0], channels) + tuple(block) + tuple(positions))
        padded = [length + b0 + e0 for length, b0, e0 in zip(image, begin, end, strict=False)]
        return (
            np.ascontiguousarray(
                crop(overlap_add(blocks, padded, strides, dilations), begin, image)
            ),
        )
