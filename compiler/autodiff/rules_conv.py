"""Gradient rules of the convolution, pooling and normalisation ops, in standard ops only.

Conv's input gradient is a ConvTranspose with the same weights; its weight gradient is a Conv of
the input by the output gradient with batch and channel axes swapped. Pooling gradients spread
the output gradient back over each window: AveragePool by a ConvTranspose with a kernel of ones,
MaxPool by scattering into the argmax positions that MaxPool's Indices output names.
"""

from __future__ import annotations

import math

import numpy as np
from onnx import helper

from nnc.compiler.autodiff.core import GradContext, GradientError, attrs, region_rule, rule
from nnc.compiler.builder import elem_type


def _static(g: GradContext, name: str, what: str) -> list[int]:
    """The per-sample (non-batch) dims of `name`, which these rules need as numbers."""
    dims = g.shape(name)[1:]
    static = [d for d in dims if isinstance(d, int)]
    if len(static) != len(dims):
        raise GradientError(f"{what} gradient with dynamic non-batch dims {dims}")
    return static


def _window(at: dict, lengths, kernel) -> tuple[list[int], list[int], list[int], list[int]]:
    """strides, dilations, begin pads and end pads of a Conv/pool node (auto_pad resolved)."""
    n = len(kernel)
    strides = list(at.get("strides") or [1] * n)
    dilations = list(at.get("dilations") or [1] * n)
    auto = at.get("auto_pad", b"NOTSET")
    auto = auto.decode() if isinstance(auto, bytes) else auto
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        begin, end = [], []
        for length, k, s, d in zip(lengths, kernel, strides, dilations):
            total = max((-(-length // s) - 1) * s + (k - 1) * d + 1 - length, 0)
            head = total // 2 if auto == "SAME_UPPER" else total - total // 2
            begin.append(head)
            end.append(total - head)
    elif auto == "VALID":
        begin, end = [0] * n, [0] * n
    else:
        pads = list(at.get("pads") or [0] * (2 * n))
        begin, end = pads[:n], pads[n:]
    return strides, dilations, begin, end


def _lost(lengths, kernel, strides, dilations, begin, end) -> list[int]:
    """Input cells past the last window ((in + pads - extent) % stride): they get no gradient,
    and a ConvTranspose must be told to add them back (output_padding)."""
    return [
        (length + b0 + e0 - (k - 1) * d - 1) % s
        for length, k, s, d, b0, e0 in zip(lengths, kernel, strides, dilations, begin, end)
    ]


def _swap01(b, x: str, rank: int) -> str:
    return b.op("Transpose", [x], perm=[1, 0, *range(2, rank)])


# -- convolution --------------------------------------------------------------------------------
@rule("Conv", saves=("x",))
def _conv(g, node, dys):
    x, w = node.input[:2]
    bias = node.input[2] if len(node.input) > 2 and node.input[2] else None
    b, dy, at = g.b, dys[0], attrs(node)
    xs, ws = _static(g, x, "Conv"), list(g.shape(w))
    channels, lengths = xs[0], xs[1:]
    kernel, n, group = ws[2:], len(ws) - 2, at.get("group", 1)
    if any(not isinstance(d, int) for d in ws):
        raise GradientError(f"Conv gradient with a weight of dynamic shape {ws}")
    strides, dilations, begin, end = _window(at, lengths, kernel)
    dx = dw = db = None
    if g.needs(x):
        dx = b.op(
            "ConvTranspose",
            [dy, w],
            kernel_shape=kernel,
            strides=strides,
            dilations=dilations,
            pads=begin + end,
            group=group,
            output_padding=_lost(lengths, kernel, strides, dilations, begin, end),
        )
    if g.needs(w) and group == 1 and n == 2 and math.prod(kernel) <= _IM2COL_MAX_TAPS:
        out_len = _static(g, node.output[0], "Conv")[1:]
        dw = _weight_grad_im2col(
            b, x, dy, channels, ws[0], kernel, out_len, strides, dilations, begin, end
        )
    elif g.needs(w):
        # dW[m, c, k] = sum over n and positions p of dy[n, m, p] * xpad[n, c, p * stride + k *
        # dilation]: a Conv whose batch is the input channels and whose "kernel" is dy, with the
        # roles of stride and dilation exchanged. Per group, the batch axis of x is folded into
        # that group's channels so that one grouped Conv does every group.
        per_group = channels // group
        if group == 1:
            xt = _swap01(b, x, n + 2)  # [C, N, *spatial]
        else:
            xt = b.op("Reshape", [x, b.ints([-1, group, per_group, *lengths])])
            xt = b.op("Transpose", [xt], perm=[2, 1, 0, *range(3, n + 3)])
            xt = b.op("Reshape", [xt, b.ints([per_group, -1, *lengths])])
        full = b.op(
            "Conv",
            [xt, _swap01(b, dy, n + 2)],
            strides=dilations,
            dilations=strides,
            pads=begin + end,
            group=group,
        )
        dw = _swap01(b, full, n + 2)  # [M, C / group, *reach]
        reach = [
            (length + b0 + e0 - (o - 1) * s - 1) // d + 1
            for length, b0, e0, o, s, d in zip(
                lengths, begin, end, _static(g, node.output[0], "Conv")[1:], strides, dilations
            )
        ]
        if reach != kernel:  # the lost border widens the correlation past the kernel
            dw = b.op("Slice", [dw, b.ints([0] * n), b.ints(kernel), b.ints(list(range(2, n + 2)))])
    if bias is not None and g.needs(bias):
        db = b.op("ReduceSum", [dy, b.ints([0, *range(2, n + 2)])], keepdims=0)
    return [dx, dw, db]


# A small kernel's weight gradient is faster as im2col (one strided Slice per tap) and one
# batched MatMul than as a Conv whose "kernel" is the whole output gradient: onnxruntime runs
# that Conv as a skinny GEMM (LeNet's 3x3 layers: 1.5-2x faster measured).
_IM2COL_MAX_TAPS = 25


def _weight_grad_im2col(
    b, x, dy, channels, filters, kernel, out_len, strides, dilations, begin, end
):
    """dW[f, c, i, j] = sum over n, p of dy[n, f, p] * xpad[n, c, p * stride + (i, j) * dil]."""
    (kh, kw), (oh, ow), (sh, sw), (dh, dw_) = kernel, out_len, strides, dilations
    xp = x
    if any(begin) or any(end):
        xp = b.op("Pad", [x, b.ints([0, 0, *begin[:2], 0, 0, *end[:2]])])
    taps = []
    for i in range(kh):
        for j in range(kw):
            starts = [i * dh, j * dw_]
            ends = [starts[0] + (oh - 1) * sh + 1, starts[1] + (ow - 1) * sw + 1]
            taps.append(
                b.op("Slice", [xp, b.ints(starts), b.ints(ends), b.ints([2, 3]), b.ints([sh, sw])])
            )
    cols = b.op("Concat", taps, axis=1) if len(taps) > 1 else taps[0]  # [N, K*C, OH, OW], tap-major
    cols = b.op("Reshape", [cols, b.ints([0, kh * kw * channels, oh * ow])])
    dy_t = b.op("Transpose", [b.op("Reshape", [dy, b.ints([0, filters, oh * ow])])], perm=[0, 2, 1])
    per_sample = b.op("MatMul", [cols, dy_t])  # [N, K*C, F]
    total = b.op("ReduceSum", [per_sample, b.ints([0])], keepdims=0)  # [K*C, F]
    dw = b.op(
        "Reshape", [b.op("Transpose", [total], perm=[1, 0]), b.ints([filters, kh, kw, channels])]
    )
    return b.op("Transpose", [dw], perm=[0, 3, 1, 2])


# -- pooling ------------------------------------------------------------------------------------
@rule("MaxPool", saves=("x",))
def _max_pool(g, node, dys):
    # Each output's gradient goes to the one input cell MaxPool's Indices names (ties: a single
    # winner, so nothing is counted twice); overlapping windows that share a winner add up.
    # The scatter runs per (sample, channel) plane on the index modulo the plane's size: correct
    # whether a runtime numbers Indices over the whole tensor (as ONNX defines) or per plane (as
    # tinygrad does).
    b, x, dy = g.b, node.input[0], dys[0]
    at = attrs(node)
    if at.get("storage_order", 0):
        raise GradientError("MaxPool gradient with storage_order=1")
    if len(node.output) > 1 and node.output[1]:
        indices = node.output[1]
    else:
        _, indices = b.op("MaxPool", [x], outputs=2, **at)
    plane = math.prod(_static(g, x, "MaxPool")[1:])
    out_plane = math.prod(_static(g, node.output[0], "MaxPool")[1:])
    rows = b.ints([-1, out_plane])
    zeros = b.op(
        "ConstantOfShape",
        [b.op("Shape", [b.op("Reshape", [x, b.ints([-1, plane])])])],
        value=helper.make_tensor("value", elem_type(b.dtype), [1], [0.0]),
    )
    where = b.op("Reshape", [b.op("Mod", [indices, b.ints([plane])]), rows])
    scattered = b.op(
        "ScatterElements",
        [zeros, where, b.op("Reshape", [dy, rows])],
        axis=1,
        reduction="add",
    )
    return [g.like(scattered, x)]


@rule("AveragePool", saves=("shapes",))
def _average_pool(g, node, dys):
    b, x, dy = g.b, node.input[0], dys[0]
    at = attrs(node)
    if at.get("ceil_mode", 0):
        raise GradientError("AveragePool gradient with ceil_mode=1")
    xs = _static(g, x, "AveragePool")
    lengths, kernel = xs[1:], list(at["kernel_shape"])
    strides, dilations, begin, end = _window(at, lengths, kernel)
    if any(d != 1 for d in dilations):
        raise GradientError("AveragePool gradient with dilations")
    out = _static(g, node.output[0], "AveragePool")[1:]
    n = len(kernel)
    if at.get("count_include_pad", 0):
        scaled = b.op("Mul", [dy, b.scalar(1.0 / math.prod(kernel))])
    else:
        # how many input cells each window covers; the same for every sample and channel
        counts = np.ones(out)
        for axis, (length, k, s, b0) in enumerate(zip(lengths, kernel, strides, begin)):
            start = np.arange(out[axis]) * s - b0
            covered = np.minimum(start + k, length) - np.maximum(start, 0)
            counts = counts * covered.reshape([-1 if i == axis else 1 for i in range(n)])
        scaled = b.op("Div", [dy, b.const(counts)])
    # channels into the batch axis: one ConvTranspose with a single all-ones kernel spreads every
    # window's share back over its cells
    planes = b.op("Reshape", [scaled, b.ints([-1, 1, *out])])
    spread = b.op(
        "ConvTranspose",
        [planes, b.const(np.ones([1, 1, *kernel]))],
        kernel_shape=kernel,
        strides=strides,
        pads=begin + end,
        output_padding=_lost(lengths, kernel, strides, dilations, begin, end),
    )
    return [g.like(spread, x)]


@rule("GlobalAveragePool", saves=("shapes",))
def _global_average_pool(g, node, dys):
    b, x = g.b, node.input[0]
    cells = math.prod(_static(g, x, "GlobalAveragePool")[1:])
    return [b.op("Mul", [b.op("Expand", [dys[0], b.op("Shape", [x])]), b.scalar(1.0 / cells)])]


# -- normalisation ------------------------------------------------------------------------------
def _channel_sum(g: GradContext, value: str, rank: int) -> str:
    return g.b.op("ReduceSum", [value, g.b.ints([0, *range(2, rank)])], keepdims=0)


@rule("BatchNormalization", saves=("x",), nondiff=())
def _batch_norm(g, node, dys):
    """Inference-mode BatchNormalization (frozen statistics): y = (x - mean) * scale / sd + B."""
    if attrs(node).get("training_mode", 0):
        raise GradientError(
            "BatchNormalization gradient in training mode (nnc lowers training batch norm to "
            "reductions instead)"
        )
    x, scale, bias, mean, var = node.input[:5]
    b, dy = g.b, dys[0]
    rank = g.rank(x)
    eps = attrs(node).get("epsilon", 1e-5)
    per_channel = b.ints([-1] + [1] * (rank - 2))

    def bc(v: str) -> str:
        return b.op("Reshape", [v, per_channel]) if rank > 2 else v

    inv_std = b.op("Reciprocal", [b.op("Sqrt", [b.op("Add", [var, b.scalar(eps)])])])
    gain = b.op("Mul", [scale, inv_std])  # [C]
    grads: list[str | None] = [None] * 5
    if g.needs(x):
        grads[0] = b.op("Mul", [dy, bc(gain)])
    centred_dy = None
    if g.needs(scale) or g.needs(var):
        centred_dy = _channel_sum(g, b.op("Mul", [dy, b.op("Sub", [x, bc(mean)])]), rank)
    if g.needs(scale):
        grads[1] = b.op("Mul", [centred_dy, inv_std])
    if g.needs(bias) or g.needs(mean):
        dbias = _channel_sum(g, dy, rank)
        grads[2] = dbias if g.needs(bias) else None
        if g.needs(mean):
            grads[3] = b.op("Neg", [b.op("Mul", [dbias, gain])])
    if g.needs(var):
        cube = b.op("Mul", [inv_std, b.op("Mul", [inv_std, inv_std])])
        grads[4] = b.op(
            "Mul", [b.op("Mul", [centred_dy, scale]), b.op("Mul", [cube, b.scalar(-0.5)])]
        )
    return grads


@rule("LRN", saves=("x", "y"))
def _lrn(g, node, dys):
    """y = x s^-beta with s = bias + alpha/size * W(x^2), W the sum over a window of channels
    [c - lo, c + hi]. dx = dy s^-beta - 2 alpha beta / size * x * W^T(dy y / s), where W^T, the
    transposed window sum, runs over [c - hi, c + lo]."""
    b, x, y, dy = g.b, node.input[0], node.output[0], dys[0]
    at = attrs(node)
    size = int(at["size"])
    alpha, beta, bias = at.get("alpha", 1e-4), at.get("beta", 0.75), at.get("bias", 1.0)
    xs = _static(g, x, "LRN")
    lo, hi = (size - 1) // 2, size - 1 - (size - 1) // 2
    # channels as the height of a one-channel image, so the window sum is one small Conv
    as_image = b.ints([-1, 1, xs[0], math.prod(xs[1:])])
    ones = b.const(np.ones([1, 1, size, 1]))

    def window_sum(v: str, before: int, after: int) -> str:
        s = b.op("Conv", [b.op("Reshape", [v, as_image]), ones], pads=[before, 0, after, 0])
        return g.like(s, x)

    s = b.op(
        "Add",
        [
            b.scalar(bias),
            b.op("Mul", [window_sum(b.op("Mul", [x, x]), lo, hi), b.scalar(alpha / size)]),
        ],
    )
    direct = b.op("Mul", [dy, b.op("Pow", [s, b.scalar(-beta)])])
    through_s = window_sum(b.op("Div", [b.op("Mul", [dy, y]), s]), hi, lo)
    coef = b.scalar(2.0 * alpha * beta / size)
    return [b.op("Sub", [direct, b.op("Mul", [b.op("Mul", [x, through_s]), coef])])]


# -- shapes -------------------------------------------------------------------------------------
@rule("Pad", saves=("shapes",), nondiff=(1, 2, 3))
def _pad(g, node, dys):
    """Constant padding: the gradient is dy without the added border (Slice), with zeros where
    a negative pad cropped x (Pad)."""
    b, x, dy = g.b, node.input[0], dys[0]
    at = attrs(node)
    mode = at.get("mode", b"constant")
    mode = mode.decode() if isinstance(mode, bytes) else mode
    if mode != "constant":
        raise GradientError(f"Pad gradient in {mode!r} mode")
    rank = g.rank(x)
    pads = g.const_value(node.input[1])
    axes_in = node.input[3] if len(node.input) > 3 and node.input[3] else None
    axes = list(range(rank))
    if axes_in is not None:
        value = g.const_value(axes_in)
        if value is None:
            raise GradientError("Pad gradient with axes computed at run time")
        axes = [int(a) % rank for a in np.asarray(value).ravel()]
    if pads is None:
        raise GradientError("Pad gradient with pads computed at run time")
    pads = [int(p) for p in np.asarray(pads).ravel()]
    begin, end = pads[: len(axes)], pads[len(axes) :]
    out = dy
    grow = [max(-p, 0) for p in begin] + [max(-p, 0) for p in end]
    shrink = [
        (a, max(p0, 0), max(p1, 0)) for a, p0, p1 in zip(axes, begin, end) if p0 > 0 or p1 > 0
    ]
    if shrink:
        # ends counted from the end (negative) so a symbolic batch axis needs no shape
        big = np.iinfo(np.int64).max
        out = b.op(
            "Slice",
            [
                out,
                b.ints([p0 for _, p0, _ in shrink]),
                b.ints([-p1 if p1 else big for _, _, p1 in shrink]),
                b.ints([a for a, _, _ in shrink]),
            ],
        )
    if any(grow):
        out = b.op("Pad", [out, b.ints(grow), b.const(0.0), b.ints(axes)])
    return [out, None, None, None][: len(node.input)]


# -- batch normalisation in training mode ---------------------------------------------------------
@region_rule("BatchNormTrain", saves=("x1", "shapes", "xhat", "inv_std"))
def _batch_norm_train(g, region, dys):
    """y = xhat * gamma + beta with xhat = (x - mean) / sqrt(var + eps) over the batch statistics.
    With m values per channel and sums over them:
      dbeta = sum(dy), dgamma = sum(dy * xhat),
      dx = gamma * inv_std * (dy - dbeta / m - xhat * dgamma / m)."""
    b, dy = g.b, dys[0]
    x, gamma, beta = region.inputs
    xhat, inv_std = region.saved["xhat"], region.saved["inv_std"]
    axes, per_channel = b.ints(region.attrs["axes"]), region.attrs["per_channel"]
    channels = b.ints([per_channel[0]])
    dbeta = b.op("ReduceSum", [dy, axes], keepdims=1)
    dgamma = b.op("ReduceSum", [b.op("Mul", [dy, xhat]), axes], keepdims=1)
    dx = None
    if g.needs(x):
        # 1 / m = channels / size(x), exact with a symbolic batch
        inv_m = b.op("Div", [b.count(dbeta), b.count(x)])
        scale = inv_std
        if gamma:
            scale = b.op("Mul", [inv_std, b.op("Reshape", [gamma, b.ints(per_channel)])])
        centred_dy = b.op("Sub", [dy, b.op("Mul", [dbeta, inv_m])])
        dx = b.op(
            "Mul",
            [b.op("Sub", [centred_dy, b.op("Mul", [xhat, b.op("Mul", [dgamma, inv_m])])]), scale],
        )
    return [
        dx,
        b.op("Reshape", [dgamma, channels]) if gamma and g.needs(gamma) else None,
        b.op("Reshape", [dbeta, channels]) if beta and g.needs(beta) else None,
    ]
