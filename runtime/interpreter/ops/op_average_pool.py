import numpy as np

from nnc.runtime.interpreter.kernel import Kernel
from nnc.runtime.interpreter.registry import register
from nnc.runtime.interpreter.windows import (
    pool_geometry,
    sliding_windows,
)


@register("AveragePool")
class AveragePool(Kernel):
    """Mean over each window, of the input cells only or (count_include_pad) the pads too.

    Cells a ceil-mode window overhangs beyond the end pad never count.
    """

    def run(
        self,
        x,
        *,
        auto_pad="NOTSET",
        ceil_mode=0,
        count_include_pad=0,
        dilations=None,
        kernel_shape,
        pads=None,
        strides=None,
    ):
        kernel, strides, dilations, begin, end, out = pool_geometry(
            x, kernel_shape, strides, dilations, pads, auto_pad, ceil_mode
        )
        n, lengths = len(kernel), x.shape[2:]
        window_axes = tuple(range(2 + n, 2 + 2 * n))
        sums = np.sum(
            sliding_windows(x, kernel, strides, dilations, begin, out, 0), axis=window_axes
        )
        cells = np.ones((1, 1) + tuple(lengths), dtype=x.dtype)
        if count_include_pad:
            widths = [(max(b0, 0), max(e0, 0)) for b0, e0 in zip(begin, end, strict=False)]
            cells = np.pad(cells, [(0, 0), (0, 0)] + widths, constant_values=1)
            begin = [min(b0, 0) for b0 in begin]
        counts = np.sum(
            sliding_windows(cells, kernel, strides, dilations, begin, out, 0), axis=window_axes
        )
        # A window over padding only averages nothing: 0, as in ONNX Runtime.
        return ((sums / np.maximum(counts, 1)).astype(x.dtype, copy=False),)
