"""Geometry shared by convolution and pooling: pads, output sizes, windows, overlap-add.

Every kernel here is vectorised over batch, channels and positions: windows are strided views
(`sliding_window_view`), contractions are `tensordot` (BLAS), and the only Python loops run
over kernel offsets (overlap-add) or groups.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from nnc.runtime.interpreter.kernel import int_list


def defaults(value: Any, n: int, fill: int) -> list[int]:
    """An optional per-axis attribute (strides, dilations...) with its default."""
    return [fill] * n if value is None else int_list(value)


def effective(kernel: Sequence[int], dilations: Sequence[int]) -> list[int]:
    """The extent each dilated kernel axis covers."""
    return [(k - 1) * d + 1 for k, d in zip(kernel, dilations, strict=False)]


def conv_pads(
    lengths: Sequence[int],
    kernel: Sequence[int],
    strides: Sequence[int],
    dilations: Sequence[int],
    pads: Any,
    auto_pad: str,
    crop: bool = False,
) -> tuple[list[int], list[int]]:
    """(begin, end) pads per spatial axis for a convolution or pooling window.

    SAME pads so that out = ceil(length / stride), the odd unit at the end (SAME_UPPER) or the
    beginning (SAME_LOWER). A kernel smaller than the stride makes the total negative: ONNX
    Runtime clamps it to 0 for convolutions and keeps it (it crops, halved toward zero) for
    pooling; `crop` picks the pooling behaviour.
    """
    n = len(lengths)
    if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        begin, end = [], []
        for length, extent, stride in zip(
            lengths, effective(kernel, dilations), strides, strict=False
        ):
            out = -(-length // stride)
            total = (out - 1) * stride + extent - length
            total = total if crop else max(total, 0)
            head = int((total + (auto_pad == "SAME_LOWER")) / 2)
            begin.append(head)
            end.append(total - head)
        return begin, end
    if auto_pad == "VALID":
        return [0] * n, [0] * n
    if auto_pad not in ("NOTSET", ""):
        raise ValueError(f"unknown auto_pad {auto_pad!r}")
    pads = defaults(pads, 2 * n, 0)
    return pads[:n], pads[n:]


def output_size(
    length: int, extent: int, stride: int, begin: int, end: int, ceil_mode: bool = False
) -> int:
    """Number of window positions; in ceil mode the last window may overhang the end pad,
    but must start inside the input or the begin pad."""
    span = length + begin + end - extent
    if span < 0:
        raise ValueError(
            f"window of extent {extent} does not fit an axis of {length} padded by ({begin}, {end})"
        )
    if not ceil_mode:
        return span // stride + 1
    out = -(-span // stride) + 1
    if (out - 1) * stride >= length + begin:
        out -= 1
    return out


def pool_geometry(x: np.ndarray, kernel_shape, strides, dilations, pads, auto_pad, ceil_mode):
    """kernel, strides, dilations, begin/end pads and output lengths of a pooling node."""
    kernel = int_list(kernel_shape)
    n = len(kernel)
    lengths = x.shape[2:]
    strides, dilations = defaults(strides, n, 1), defaults(dilations, n, 1)
    begin, end = conv_pads(lengths, kernel, strides, dilations, pads, auto_pad, crop=True)
    out = [
        output_size(length, extent, s, b0, e0, bool(ceil_mode))
        for length, extent, s, b0, e0 in zip(
            lengths, effective(kernel, dilations), strides, begin, end, strict=False
        )
    ]
    return kernel, strides, dilations, begin, end, out


def sliding_windows(
    x: np.ndarray,
    kernel: Sequence[int],
    strides: Sequence[int],
    dilations: Sequence[int],
    begin: Sequence[int],
    out: Sequence[int],
    fill: Any,
) -> np.ndarray:
    """A view [N, C, *out, *kernel] of the windows of x, padded with `fill` as needed."""
    n = len(kernel)
    extents = effective(kernel, dilations)
    needed = [(o - 1) * s + e for o, s, e in zip(out, strides, extents, strict=False)]
    widths = [(0, 0), (0, 0)] + [
        (max(b, 0), max(need - length - b, 0))
        for b, need, length in zip(begin, needed, x.shape[2:], strict=False)
    ]
    if any(w != (0, 0) for w in widths):
        x = np.pad(x, widths, mode="constant", constant_values=fill)
    # A negative begin pad crops.
    x = x[
        (slice(None), slice(None))
        + tuple(
            slice(max(-b, 0), max(-b, 0) + need) for b, need in zip(begin, needed, strict=False)
        )
    ]
    view = sliding_window_view(x, extents, axis=tuple(range(2, 2 + n)))
    step = tuple(slice(None, None, s) for s in strides) + tuple(
        slice(None, None, d) for d in dilations
    )
    return view[(slice(None), slice(None)) + step]


def overlap_add(
    blocks: np.ndarray, lengths: Sequence[int], strides: Sequence[int], dilations: Sequence[int]
) -> np.ndarray:
    """Sum the blocks [N, C, *kernel, *positions] into an array [N, C, *lengths] (col2im)."""
    n = len(lengths)
    kernel = blocks.shape[2 : 2 + n]
    positions = blocks.shape[2 + n :]
    out = np.zeros(blocks.shape[:2] + tuple(lengths), dtype=blocks.dtype)
    for offset in itertools.product(*(range(k) for k in kernel)):
        region = tuple(
            slice(k * d, k * d + s * (p - 1) + 1, s)
            for k, d, s, p in zip(offset, dilations, strides, positions, strict=False)
        )
        out[(slice(None), slice(None)) + region] += blocks[(slice(None), slice(None)) + offset]
    return out


def crop(x: np.ndarray, begin: Sequence[int], lengths: Sequence[int]) -> np.ndarray:
    """The spatial region [begin, begin + length) of x, zeros where it lies outside x."""
    widths = [(0, 0), (0, 0)]
    index = [slice(None), slice(None)]
    for b, length, size in zip(begin, lengths, x.shape[2:], strict=False):
        before, after = max(-b, 0), max(b + length - size, 0)
        widths.append((before, after))
        index.append(slice(b + before, b + before + length))
    if any(w != (0, 0) for w in widths):
        x = np.pad(x, widths)
    return x[tuple(index)]


def channel_bias(bias: np.ndarray, rank: int) -> np.ndarray:
    """A per-channel vector shaped to broadcast over [N, C, *spatial]."""
    return bias.reshape((1, -1) + (1,) * (rank - 2))
