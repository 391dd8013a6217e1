import math

import numpy as np

from nnc.runtime.interpreter.kernel import Kernel, lowest
from nnc.runtime.interpreter.registry import register
from nnc.runtime.interpreter.windows import (
    pool_geometry,
    sliding_windows,
)


@register("MaxPool")
class MaxPool(Kernel):
    """Maximum over each window; the optional Indices output is the flat index into x.

    Indices count over the whole tensor (batch and channel included), row-major, or
    column-major over the spatial axes when storage_order=1.
    """

    def run(
        self,
        x,
        *,
        auto_pad="NOTSET",
        ceil_mode=0,
        dilations=None,
        kernel_shape,
        pads=None,
        storage_order=0,
        strides=None,
    ):
        kernel, strides, dilations, begin, end, out = pool_geometry(
            x, kernel_shape, strides, dilations, pads, auto_pad, ceil_mode
        )
        n, lengths = len(kernel), x.shape[2:]
        # Pads hold the lowest finite value (not -inf), as in ONNX Runtime: a window over
        # padding only gives that value.
        fill = np.finfo(x.dtype).min if x.dtype.kind == "f" else lowest(x.dtype)
        windows = sliding_windows(x, kernel, strides, dilations, begin, out, fill)
        flat = windows.reshape(windows.shape[: 2 + n] + (-1,))
        y = np.max(flat, axis=-1)
        if self.n_outputs < 2:
            return (y,)
        offsets = np.unravel_index(np.argmax(flat, axis=-1), kernel)
        if storage_order:
            steps = [math.prod(lengths[:i]) for i in range(n)]
        else:
            steps = [math.prod(lengths[i + 1 :]) for i in range(n)]
        index = np.zeros(y.shape, dtype=np.int64)
        for i in range(n):
            start = np.arange(out[i]) * strides[i] - begin[i]
            start = start.reshape((1, 1) + tuple(-1 if j == i else 1 for j in range(n)))
            index += (start + offsets[i] * dilations[i]) * steps[i]
        # A window over padding only points at position -1 on every axis, as in ONNX Runtime.
        cells = np.ones((1, 1) + tuple(lengths), dtype=np.int8)
        inside = sliding_windows(cells, kernel, strides, dilations, begin, out, 0)
        inside = inside.reshape(inside.shape[: 2 + n] + (-1,)).any(axis=-1)
        index = np.where(inside, index, -sum(steps))
        plane = np.arange(x.shape[0] * x.shape[1]).reshape(x.shape[:2] + (1,) * n)
        return (y, index + plane * math.prod(lengths))
