import numpy as np

from nnc.runtime.interpreter.kernel import Kernel, int_list
from nnc.runtime.interpreter.registry import register
from nnc.runtime.interpreter.windows import (
    channel_bias,
    conv_pads,
    defaults,
    effective,
    output_size,
    sliding_windows,
)


@register("Conv")
class Conv(Kernel):
    """N-d grouped, strided, dilated convolution (cross-correlation), as windows x weights."""

    def run(
        self,
        x,
        w,
        b=None,
        *,
        auto_pad="NOTSET",
        dilations=None,
        group=1,
        kernel_shape=None,
        pads=None,
        strides=None,
    ):
        n = x.ndim - 2
        kernel = list(w.shape[2:])
        if kernel_shape is not None and int_list(kernel_shape) != kernel:
            raise ValueError(f"kernel_shape {kernel_shape} does not match the weight {w.shape}")
        strides, dilations = defaults(strides, n, 1), defaults(dilations, n, 1)
        begin, end = conv_pads(x.shape[2:], kernel, strides, dilations, pads, auto_pad)
        out = [
            output_size(length, extent, s, b0, e0)
            for length, extent, s, b0, e0 in zip(
                x.shape[2:], effective(kernel, dilations), strides, begin, end, strict=False
            )
        ]
        windows = sliding_windows(x, kernel, strides, dilations, begin, out, 0)
        in_group, out_group = x.shape[1] // group, w.shape[0] // group
        if w.shape[1] != in_group:
            raise ValueError(
                f"weight {w.shape} does not fit {x.shape[1]} channels in {group} groups"
            )
        window_axes = [1] + list(range(2 + n, 2 + 2 * n))
        weight_axes = list(range(1, 2 + n))
        parts = [
            np.tensordot(
                windows[:, g * in_group : (g + 1) * in_group],
                w[g * out_group : (g + 1) * out_group],
                axes=(window_axes, weight_axes),
            )
            for g in range(group)
        ]
        y = np.moveaxis(parts[0] if group == 1 else np.concatenate(parts, axis=-1), -1, 1)
        if b is not None:
            y = y + channel_bias(b, y.ndim)
        return (np.ascontiguousarray(y, dtype=x.dtype),)
