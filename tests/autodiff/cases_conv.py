"""Gradient-check cases for the rules in compiler/autodiff/rules_conv.py, keyed by op type."""

from __future__ import annotations

import numpy as np

from autodiff.harness import Case, normal, positive

rng = np.random.default_rng(4321)


def distinct(*shape: int) -> np.ndarray:
    """Values at least 0.1 apart, in random order: no max-pool window has a tie or a near-tie
    that a finite-difference step could flip."""
    size = int(np.prod(shape))
    return (rng.permutation(size) * 0.1 - size * 0.05).reshape(shape)


def conv(tag: str, x_shape, w_shape, *, bias: bool = False, wrt=("x", "w"), **attrs) -> Case:
    inputs = {"x": normal(rng, *x_shape), "w": normal(rng, *w_shape)}
    if bias:
        inputs["b"] = normal(rng, w_shape[0])

    def build(b, n):
        return b.op("Conv", [n["x"], n["w"]] + ([n["b"]] if bias else []), **attrs)

    return Case(tag, build, inputs, tuple(wrt) + (("b",) if bias else ()))


def single(op: str, tag: str, x: np.ndarray, **attrs) -> Case:
    return Case(tag, lambda b, n: b.op(op, [n["x"]], **attrs), {"x": x}, ("x",))


CASES: dict[str, list[Case]] = {}

CASES["Conv"] = [
    conv("3x3", [2, 3, 5, 5], [4, 3, 3, 3], bias=True),
    conv("pads", [2, 2, 5, 4], [3, 2, 3, 2], pads=[1, 0, 2, 1]),
    # (8 + 0 - 3) % 2 = 1: the last row and column are in no window
    conv("stride2_lost_border", [2, 2, 8, 8], [3, 2, 3, 3], strides=[2, 2]),
    conv(
        "stride3x2_lost_border_pads", [1, 2, 9, 7], [2, 2, 2, 3], strides=[3, 2], pads=[1, 1, 0, 1]
    ),
    conv("dilation2", [2, 2, 7, 6], [3, 2, 3, 2], dilations=[2, 2]),
    conv("groups2", [2, 4, 5, 5], [6, 2, 3, 3], group=2, bias=True),
    conv("depthwise", [2, 3, 5, 5], [3, 1, 3, 3], group=3),
    conv(
        "groups_stride_dilation_pads",
        [2, 4, 9, 8],
        [4, 2, 3, 2],
        group=2,
        strides=[2, 3],
        dilations=[2, 1],
        pads=[1, 2, 0, 1],
    ),
    conv("same_upper", [2, 2, 6, 5], [2, 2, 4, 3], strides=[2, 2], auto_pad="SAME_UPPER"),
    # more than 25 taps: the weight gradient takes the Conv-of-the-output-gradient path
    conv("6x5_kernel_conv_path", [2, 2, 8, 7], [3, 2, 6, 5], strides=[2, 1], pads=[1, 0, 0, 1]),
    conv("1d", [2, 3, 9], [2, 3, 3], strides=[2], pads=[1, 0]),
    conv("3d", [1, 2, 4, 5, 4], [2, 2, 2, 3, 2], strides=[1, 2, 1], pads=[0, 1, 0, 0, 0, 1]),
    conv("wrt_x_only", [2, 2, 5, 5], [3, 2, 3, 3], wrt=("x",), strides=[2, 2]),
    conv("wrt_w_only", [2, 2, 5, 5], [3, 2, 3, 3], wrt=("w",), pads=[1, 1, 1, 1]),
]

CASES["MaxPool"] = [
    single("MaxPool", "2x2_stride2", distinct(2, 3, 6, 6), kernel_shape=[2, 2], strides=[2, 2]),
    # overlapping windows: one cell may win several windows
    single("MaxPool", "3x3_stride2", distinct(2, 2, 7, 7), kernel_shape=[3, 3], strides=[2, 2]),
    single("MaxPool", "3x3_stride1", distinct(1, 2, 5, 5), kernel_shape=[3, 3]),
    single(
        "MaxPool",
        "pads_lost_border",
        distinct(2, 2, 8, 7),
        kernel_shape=[3, 2],
        strides=[2, 2],
        pads=[1, 0, 0, 1],
    ),
    single("MaxPool", "1d", distinct(2, 3, 9), kernel_shape=[3], strides=[2]),
    single(
        "MaxPool",
        "same_upper",
        distinct(1, 2, 5, 5),
        kernel_shape=[2, 2],
        strides=[2, 2],
        auto_pad="SAME_UPPER",
    ),
]

CASES["AveragePool"] = [
    single(
        "AveragePool", "2x2_stride2", normal(rng, 2, 3, 6, 6), kernel_shape=[2, 2], strides=[2, 2]
    ),
    single(
        "AveragePool",
        "3x3_stride2_lost_border",
        normal(rng, 2, 2, 8, 8),
        kernel_shape=[3, 3],
        strides=[2, 2],
    ),
    single(
        "AveragePool",
        "pads_exclude",
        normal(rng, 2, 2, 7, 6),
        kernel_shape=[3, 3],
        strides=[2, 2],
        pads=[1, 1, 1, 0],
    ),
    single(
        "AveragePool",
        "pads_include",
        normal(rng, 2, 2, 7, 6),
        kernel_shape=[3, 3],
        strides=[2, 2],
        pads=[1, 1, 1, 0],
        count_include_pad=1,
    ),
    single(
        "AveragePool", "1d_pads", normal(rng, 2, 3, 9), kernel_shape=[4], strides=[3], pads=[2, 1]
    ),
    single(
        "AveragePool",
        "same_upper",
        normal(rng, 1, 2, 5, 5),
        kernel_shape=[2, 2],
        strides=[2, 2],
        auto_pad="SAME_UPPER",
    ),
]

CASES["GlobalAveragePool"] = [
    single("GlobalAveragePool", "4d", normal(rng, 2, 3, 4, 5)),
    single("GlobalAveragePool", "3d", normal(rng, 2, 3, 7)),
]


def _batch_norm(tag: str, x_shape, wrt, **attrs) -> Case:
    c = x_shape[1]
    inputs = {
        "x": normal(rng, *x_shape),
        "scale": normal(rng, c),
        "bias": normal(rng, c),
        "mean": normal(rng, c),
        "var": positive(rng, c),
    }
    order = ["x", "scale", "bias", "mean", "var"]
    return Case(
        tag,
        lambda b, n: b.op("BatchNormalization", [n[k] for k in order], **attrs),
        inputs,
        tuple(wrt),
    )


CASES["BatchNormalization"] = [
    _batch_norm("4d_all_inputs", [3, 2, 3, 4], ["x", "scale", "bias", "mean", "var"]),
    _batch_norm("2d_all_inputs", [4, 3], ["x", "scale", "bias", "mean", "var"], epsilon=1e-3),
    _batch_norm("x_only", [2, 3, 4, 4], ["x"]),
]

CASES["LRN"] = [
    single(
        "LRN", "size5_alexnet", normal(rng, 2, 7, 3, 3), size=5, alpha=1e-4, beta=0.75, bias=2.0
    ),
    # a large alpha, so the cross-channel term of the gradient is not negligible
    single("LRN", "size3_strong", normal(rng, 2, 5, 3, 2), size=3, alpha=2.0, beta=0.75, bias=1.0),
    # even sizes put the extra channel after; the transposed window puts it before
    single("LRN", "size4_even", normal(rng, 2, 6, 2, 3), size=4, alpha=1.5, beta=0.6, bias=1.5),
    single("LRN", "size1", normal(rng, 2, 3, 2, 2), size=1, alpha=1.0, beta=0.5, bias=1.0),
    single(
        "LRN",
        "wider_than_channels",
        normal(rng, 2, 2, 3, 3),
        size=5,
        alpha=3.0,
        beta=0.75,
        bias=1.0,
    ),
]


def _pad(tag: str, x_shape, pads, axes=None, value=None) -> Case:
    def build(b, n):
        inputs = [n["x"], b.ints(pads), "" if value is None else b.scalar(value)]
        if axes is not None:
            inputs.append(b.ints(axes))
        return b.op("Pad", inputs)

    return Case(tag, build, {"x": normal(rng, *x_shape)}, ("x",))


CASES["Pad"] = [
    _pad("spatial", [2, 3, 4, 5], [0, 0, 1, 2, 0, 0, 2, 1]),
    _pad("with_value", [2, 3, 4], [0, 1, 0, 0, 2, 3], value=0.7),
    _pad("crop_and_pad", [2, 3, 6, 5], [0, 0, -1, 2, 0, 0, 1, -2]),
    _pad("axes", [2, 3, 4, 5], [1, 2, 0, 3], axes=[2, -1]),
]


# -- regions: batch norm in training mode, as the layer emits it ---------------------------------
def _batch_norm_train(shape, gamma: bool, beta: bool, tag: str) -> Case:
    from nnc.compiler import options as o
    from nnc.compiler.layers import LAYERS, LowerCtx, all_options

    cls = LAYERS["batch_norm"]
    opts = {**o.defaults(all_options(cls)), "scale": gamma, "center": beta}
    c = shape[1]
    inputs = {"x": normal(rng, *shape), "rm": np.zeros(c), "rv": np.ones(c)}
    if gamma:
        inputs["gamma"] = positive(rng, c)
    if beta:
        inputs["beta"] = normal(rng, c)

    def build(b, n):
        layer = cls("bn", opts)
        layer.bind([tuple(shape[1:])])
        params = {"bn.running_mean": n["rm"], "bn.running_var": n["rv"]}
        params.update({f"bn.{k}": n[k] for k in ("gamma", "beta") if k in n})
        return layer.lower(LowerCtx(b, "train", params), [n["x"]])

    wrt = ("x", *(k for k in ("gamma", "beta") if k in inputs))
    return Case(f"{tag}_{'x'.join(map(str, shape))}", build, inputs, wrt, rtol=1e-5)


CASES["BatchNormTrain"] = [
    _batch_norm_train((4, 3, 2, 2), True, True, "conv"),
    _batch_norm_train((5, 3), True, True, "dense"),
    _batch_norm_train((4, 2, 3, 1), False, False, "no_affine"),
]

# -- 1-D (conv1d, max_pool1d, avg_pool1d layers): the same rules over [N, C, T] -------------------
CASES["Conv"] += [
    conv(
        "1d_groups_dilation_same",
        [2, 4, 11],
        [6, 2, 3],
        bias=True,
        group=2,
        dilations=[2],
        pads=[2, 2],
    ),
    conv("1d_stride3_lost_end", [2, 3, 10], [2, 3, 4], strides=[3], pads=[1, 0]),
    conv("1d_wrt_w_only", [3, 2, 8], [3, 2, 5], wrt=("w",), strides=[2], pads=[1, 2]),
    conv("1d_depthwise", [2, 3, 7], [3, 1, 3], group=3, bias=True),
]
CASES["MaxPool"] += [
    single(
        "MaxPool", "1d_overlap_pads", distinct(2, 3, 10), kernel_shape=[3], strides=[2], pads=[1, 1]
    ),
]
CASES["AveragePool"] += [
    single(
        "AveragePool",
        "1d_include_pad",
        normal(rng, 2, 2, 9),
        kernel_shape=[3],
        strides=[2],
        pads=[1, 1],
        count_include_pad=1,
    ),
]
