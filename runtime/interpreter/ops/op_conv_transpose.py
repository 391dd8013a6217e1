import numpy as np

from nnc.runtime.interpreter.kernel import Kernel, int_list
from nnc.runtime.interpreter.registry import register
from nnc.runtime.interpreter.windows import (
    channel_bias,
    conv_pads,
    crop,
    defaults,
    effective,
    overlap_add,
)


@register("ConvTranspose")
class ConvTranspose(Kernel):
    """N-d grouped transposed convolution: input x weights, overlap-added, then cropped by pads.

    The full output has stride * (in - 1) + dilated kernel + output_padding per axis; pads
    crop it. With output_shape or SAME auto_pad, the pads come from the wanted size, the odd
    unit at the end (SAME_UPPER) or the beginning (NOTSET, SAME_LOWER). SAME aims at
    in * stride but, as in ONNX Runtime, never pads negatively: a kernel smaller than the
    stride gives the full output instead.
    """

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
        output_padding=None,
        output_shape=None,
        pads=None,
        strides=None,
    ):
        n = x.ndim - 2
        lengths = x.shape[2:]
        kernel = list(w.shape[2:])
        strides, dilations = defaults(strides, n, 1), defaults(dilations, n, 1)
        extra = defaults(output_padding, n, 0)
        full = [
            s * (length - 1) + extent + p
            for s, length, extent, p in zip(
                strides, lengths, effective(kernel, dilations), extra, strict=False
            )
        ]
        if output_shape is not None or auto_pad in ("SAME_UPPER", "SAME_LOWER"):
            if output_shape is not None:
                target = int_list(output_shape)[-n:]
            else:
                target = [length * s for length, s in zip(lengths, strides, strict=False)]
            totals = [f - t for f, t in zip(full, target, strict=False)]
            if output_shape is None:
                totals = [max(t, 0) for t in totals]
            if auto_pad == "SAME_UPPER":
                begin = [t // 2 for t in totals]
            else:
                begin = [t - t // 2 for t in totals]
            end = [t - b0 for t, b0 in zip(totals, begin, strict=False)]
        else:
            begin, end = conv_pads(lengths, kernel, strides, dilations, pads, auto_pad)
        out = [f - b0 - e0 for f, b0, e0 in zip(full, begin, end, strict=False)]
        if min(out) < 1:
            raise ValueError(f"the output shape {out} has a dimension below 1")
        in_group = x.shape[1] // group
        parts = [
            np.tensordot(
                x[:, g * in_group : (g + 1) * in_group],
                w[g * in_group : (g + 1) * in_group],
                axes=([1], [0]),
            )
            for g in range(group)
        ]
        columns = parts[0] if group == 1 else np.concatenate(parts, axis=1 + n)
        # [N, *in, M, *kernel] -> [N, M, *kernel, *in]
        order = [0, 1 + n] + list(range(2 + n, 2 + 2 * n)) + list(range(1, 1 + n))
        columns = np.transpose(columns, order)
        y = crop(overlap_add(columns, full, strides, dilations), begin, out)
        if b is not None:
            y = y + channel_bias(b, y.ndim)
        return (np.ascontiguousarray(y, dtype=x.dtype),)
