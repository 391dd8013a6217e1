"""Gradient-check cases for the rules in compiler/autodiff/rules.py, keyed by op type."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from onnx import TensorProto

from autodiff.harness import Case, apart, away_from_zero, normal, positive

rng = np.random.default_rng(1234)

Shape = Sequence[int]


def _sid(*shapes: Shape) -> str:
    return "_".join("x".join(map(str, s)) or "scalar" for s in shapes)


def _key(**attrs) -> str:
    return "_".join(f"{k}{v}" for k, v in attrs.items())


def unary(op: str, x: np.ndarray, tag: str = "", **attrs) -> Case:
    return Case(
        "_".join(filter(None, [_sid(x.shape), tag or _key(**attrs)])),
        lambda b, n: b.op(op, [n["x"]], **attrs),
        {"x": x},
        ("x",),
    )


def nary(op: str, *xs: np.ndarray, wrt: Sequence[int] | None = None, tag: str = "", **attrs):
    """An op over inputs x0, x1, ...; gradients w.r.t. the positions in `wrt` (all by default)."""
    names = [f"x{i}" for i in range(len(xs))]
    wrt = range(len(xs)) if wrt is None else wrt
    return Case(
        "_".join(filter(None, [_sid(*(x.shape for x in xs)), tag or _key(**attrs)])),
        lambda b, n: b.op(op, [n[k] for k in names], **attrs),
        dict(zip(names, xs, strict=True)),
        tuple(names[i] for i in wrt),
    )


def with_axes(op: str, x: np.ndarray, axes: Sequence[int] | None, tag: str, **attrs) -> Case:
    """An op whose second input is a constant int64 list (axes, shape, pads...)."""

    def build(b, n):
        return b.op(op, [n["x"]] + ([] if axes is None else [b.ints(axes)]), **attrs)

    return Case(f"{_sid(x.shape)}_{tag}", build, {"x": x}, ("x",))


BROADCAST_PAIRS: list[tuple[Shape, Shape]] = [
    ([3, 4], [3, 4]),
    ([3, 4], [4]),
    ([4], [3, 4]),
    ([3, 1], [1, 4]),
    ([3, 4], []),
    ([], [3, 4]),
    ([2, 3, 4], [3, 1]),
]

CASES: dict[str, list[Case]] = {}

# -- broadcasting binary ops --------------------------------------------------------------------
for _op in ("Add", "Sub", "Mul"):
    CASES[_op] = [nary(_op, normal(rng, *a), normal(rng, *c)) for a, c in BROADCAST_PAIRS]
CASES["Div"] = [
    nary("Div", normal(rng, *a), away_from_zero(rng, *c, gap=0.4)) for a, c in BROADCAST_PAIRS
]
CASES["Mul"] += [
    nary("Mul", normal(rng, 3, 4), normal(rng, 4), wrt=[0], tag="wrt_first"),
    nary("Mul", normal(rng, 3, 4), normal(rng, 4), wrt=[1], tag="wrt_second"),
    # the same tensor on both inputs: the two contributions are summed
    Case(
        "square",
        lambda b, n: b.op("Mul", [n["x"], n["x"]]),
        {"x": normal(rng, 3, 4)},
        ("x",),
    ),
]
CASES["Sub"].append(
    Case("self", lambda b, n: b.op("Sub", [n["x"], n["x"]]), {"x": normal(rng, 2, 3)}, ("x",))
)
CASES["Sum"] = [
    nary("Sum", normal(rng, 3, 4)),
    nary("Sum", normal(rng, 3, 4), normal(rng, 3, 4)),
    nary("Sum", normal(rng, 3, 4), normal(rng, 4), normal(rng, 3, 1)),
    nary("Sum", normal(rng), normal(rng, 1, 4), normal(rng, 3, 1)),
    nary("Sum", normal(rng, 2, 3, 4), normal(rng, 4), wrt=[1], tag="wrt_second"),
]
CASES["Min"] = [nary("Min", *apart(rng, a, c)) for a, c in BROADCAST_PAIRS]
CASES["Max"] = [nary("Max", *apart(rng, a, c)) for a, c in BROADCAST_PAIRS]


def where(cond: Shape, a: Shape, e: Shape, wrt=("a", "e")) -> Case:
    return Case(
        _sid(cond, a, e) + ("" if len(wrt) == 2 else f"_wrt_{wrt[0]}"),
        lambda b, n: b.op("Where", [n["cond"], n["a"], n["e"]]),
        {"cond": rng.random(cond) < 0.5, "a": normal(rng, *a), "e": normal(rng, *e)},
        tuple(wrt),
    )


CASES["Where"] = [
    where([3, 4], [3, 4], [3, 4]),
    where([3, 4], [3, 4], [4]),
    where([4], [3, 1], []),
    where([3, 1], [], [1, 4]),
    where([2, 3, 4], [3, 4], [2, 1, 1], wrt=("e",)),
]

# -- Gemm and MatMul --------------------------------------------------------------------------


def gemm(transA=0, transB=0, alpha=1.0, beta=1.0, c: Shape | None = (5,), wrt=None) -> Case:
    m, k, n_ = 3, 4, 5
    inputs = {
        "a": normal(rng, *((k, m) if transA else (m, k))),
        "b": normal(rng, *((n_, k) if transB else (k, n_))),
    }
    if c is not None:
        inputs["c"] = normal(rng, *c)
    tag = f"tA{transA}_tB{transB}_alpha{alpha}_beta{beta}_c" + ("none" if c is None else _sid(c))

    def build(b, n):
        ins = [n["a"], n["b"]] + ([n["c"]] if c is not None else [])
        return b.op("Gemm", ins, transA=transA, transB=transB, alpha=alpha, beta=beta)

    return Case(
        tag + ("" if wrt is None else "_wrt_" + "".join(wrt)),
        build,
        inputs,
        tuple(inputs) if wrt is None else tuple(wrt),
    )


CASES["Gemm"] = [
    gemm(ta, tb, alpha, beta)
    for ta in (0, 1)
    for tb in (0, 1)
    for alpha, beta in ((1.0, 1.0), (0.7, -1.3))
] + [
    gemm(c=[3, 5]),
    gemm(c=[1, 5]),
    gemm(c=[3, 1]),
    gemm(c=[]),
    gemm(c=None),
    gemm(1, 1, alpha=2.0, c=None),
    gemm(alpha=0.5, beta=1.0),
    gemm(transB=1, c=[5], wrt=("b", "c")),
    gemm(transA=1, c=[5], wrt=("a",)),
]

CASES["MatMul"] = [
    nary("MatMul", normal(rng, 3, 4), normal(rng, 4, 5)),
    nary("MatMul", normal(rng, 2, 3, 4), normal(rng, 4, 5)),
    nary("MatMul", normal(rng, 2, 3, 4), normal(rng, 2, 4, 5)),
    nary("MatMul", normal(rng, 1, 3, 4), normal(rng, 2, 4, 5)),
    nary("MatMul", normal(rng, 3, 4), normal(rng, 2, 4, 5)),
    nary("MatMul", normal(rng, 2, 1, 3, 4), normal(rng, 3, 4, 2)),
    nary("MatMul", normal(rng, 2, 3, 4), normal(rng, 4, 5), wrt=[1], tag="wrt_second"),
]

# -- shape ops ---------------------------------------------------------------------------------
CASES["Reshape"] = [
    with_axes("Reshape", normal(rng, 2, 3, 4), [4, -1], "to_4x-1"),
    with_axes("Reshape", normal(rng, 2, 3, 4), [0, 12], "to_0x12"),
    with_axes("Reshape", normal(rng, 6), [2, 1, 3], "to_2x1x3"),
]
CASES["Flatten"] = [
    unary("Flatten", normal(rng, 2, 3, 4)),
    unary("Flatten", normal(rng, 2, 3, 4), axis=0),
    unary("Flatten", normal(rng, 2, 3, 4), axis=2),
    unary("Flatten", normal(rng, 2, 3, 4), axis=-1),
]
CASES["Squeeze"] = [
    with_axes("Squeeze", normal(rng, 3, 1, 4, 1), [1], "axes1"),
    with_axes("Squeeze", normal(rng, 3, 1, 4, 1), [-1, 1], "axes-1_1"),
    with_axes("Squeeze", normal(rng, 3, 1, 4, 1), None, "all"),
]
CASES["Unsqueeze"] = [
    with_axes("Unsqueeze", normal(rng, 3, 4), [1], "axes1"),
    with_axes("Unsqueeze", normal(rng, 3, 4), [0, -1], "axes0_-1"),
    with_axes("Unsqueeze", normal(rng), [0], "axes0"),
]
CASES["Transpose"] = [
    unary("Transpose", normal(rng, 2, 3, 4), tag="perm201", perm=[2, 0, 1]),
    unary("Transpose", normal(rng, 2, 3, 4), tag="perm021", perm=[0, 2, 1]),
    unary("Transpose", normal(rng, 3, 4), tag="default"),
]
CASES["Concat"] = [
    nary("Concat", normal(rng, 2, 3), normal(rng, 1, 3), axis=0),
    nary("Concat", normal(rng, 2, 3), normal(rng, 2, 2), normal(rng, 2, 1), axis=1),
    nary("Concat", normal(rng, 2, 3, 1), normal(rng, 2, 3, 2), axis=-1),
    nary("Concat", normal(rng, 2, 3, 2), normal(rng, 2, 1, 2), axis=-2),
    nary("Concat", normal(rng, 2, 3), axis=0),
    nary("Concat", normal(rng, 2, 3), normal(rng, 2, 2), axis=1, wrt=[1], tag="wrt_second"),
]


def _split(sizes, axis, use):
    def build(b, n):
        parts = b.op("Split", [n["x"], b.ints(sizes)], outputs=len(sizes), axis=axis)
        picked = [parts[i] for i in use]
        return picked[0] if len(picked) == 1 else b.op("Concat", picked, axis=axis)

    return build


def _slice(starts, ends, axes):
    return lambda b, n: b.op("Slice", [n["x"], b.ints(starts), b.ints(ends), b.ints(axes)])


CASES["Split"] = [
    Case("3x4_axis1_all", _split([1, 3], 1, [0, 1]), {"x": normal(rng, 3, 4)}, ("x",)),
    Case("4x3_axis0_one_unused", _split([1, 2, 1], 0, [2, 0]), {"x": normal(rng, 4, 3)}, ("x",)),
    Case("2x6_gates", _split([2, 2, 2], -1, [1]), {"x": normal(rng, 2, 6)}, ("x",)),
]
CASES["Slice"] = [
    Case("middle", _slice([1, 1], [3, 4], [0, 1]), {"x": normal(rng, 4, 5)}, ("x",)),
    Case("negative", _slice([-2], [9999], [1]), {"x": normal(rng, 3, 5)}, ("x",)),
    Case("whole", _slice([0], [4], [0]), {"x": normal(rng, 4, 2)}, ("x",)),
    Case("reversal", lambda b, n: b.reverse(n["x"], 1), {"x": normal(rng, 2, 5)}, ("x",)),
]


def _bce_region(b, n):
    from nnc.compiler.losses import LOSSES

    return LOSSES["binary_cross_entropy"].lower(b, n["z"], n["t"])


CASES["SigmoidCrossEntropy"] = [
    # exact zeros: where the stable form's relu and abs have their corners
    Case(
        "logits_with_zeros",
        _bce_region,
        {
            "z": np.array([[0.0, 1.3, -0.7], [0.0, 0.0, 2.1]]),
            "t": np.array([[1.0, 0, 1], [0, 1, 0]]),
        },
        ("z", "t"),
    ),
    Case("random", _bce_region, {"z": normal(rng, 4, 2), "t": rng.uniform(0, 1, (4, 2))}, ("z",)),
]


def _ce_region(b, n):
    from nnc.compiler.losses import LOSSES

    return LOSSES["cross_entropy"].lower(b, n["z"], n["t"], num_classes=4)


CASES["SoftmaxCrossEntropy"] = [
    Case(
        "4_classes",
        _ce_region,
        {"z": normal(rng, 5, 4) * 2.0, "t": np.array([0, 3, 1, 3, 2], dtype=np.int64)},
        ("z",),
    )
]
CASES["Identity"] = [unary("Identity", normal(rng, 3, 4)), unary("Identity", normal(rng))]
CASES["Cast"] = [
    unary("Cast", normal(rng, 3, 4), tag="to_double", to=TensorProto.DOUBLE),
    # a float32 hop: the loss is linear in x, so a wide step keeps float32 rounding negligible
    Case(
        "via_float",
        lambda b, n: b.op(
            "Cast", [b.op("Cast", [n["x"]], to=TensorProto.FLOAT)], to=TensorProto.DOUBLE
        ),
        {"x": normal(rng, 3, 4)},
        ("x",),
        rtol=1e-5,
        atol=1e-6,
        eps=0.1,
    ),
]

# -- reductions --------------------------------------------------------------------------------
for _op in ("ReduceSum", "ReduceMean"):
    CASES[_op] = (
        [
            with_axes(
                _op,
                normal(rng, 2, 3, 4),
                axes,
                f"axes{'_'.join(map(str, axes))}_keep{keep}",
                keepdims=keep,
            )
            for axes in ([1], [-1], [0, 2], [-3, 1])
            for keep in (0, 1)
        ]
        + [
            with_axes(_op, normal(rng, 2, 3, 4), None, f"all_keep{keep}", keepdims=keep)
            for keep in (0, 1)
        ]
        + [
            with_axes(_op, normal(rng, 2, 3, 4), [], "empty_axes", keepdims=0),
            with_axes(_op, normal(rng, 2, 3), None, "noop", noop_with_empty_axes=1),
            with_axes(_op, normal(rng, 5), [0], "vector_keep0", keepdims=0),
        ]
    )

# -- softmax and fused losses -----------------------------------------------------------------
for _op in ("Softmax", "LogSoftmax"):
    CASES[_op] = [
        unary(_op, normal(rng, 3, 4), axis=-1),
        unary(_op, normal(rng, 3, 4), axis=0),
        unary(_op, normal(rng, 2, 3, 4), axis=1),
        unary(_op, normal(rng, 3, 4), tag="default"),
    ]


def loss(op: str, reduction: str, n: int = 4, classes: int = 5, tag: str = "") -> Case:
    return Case(
        f"{reduction}{tag}",
        lambda b, names: b.op(op, [names["x"], names["labels"]], reduction=reduction),
        {"x": normal(rng, n, classes), "labels": rng.integers(0, classes, n)},
        ("x",),
    )


CASES["SoftmaxCrossEntropyLoss"] = [
    loss("SoftmaxCrossEntropyLoss", r) for r in ("mean", "sum", "none")
] + [loss("SoftmaxCrossEntropyLoss", "mean", n=1, classes=3, tag="_one_row")]
CASES["NegativeLogLikelihoodLoss"] = [
    loss("NegativeLogLikelihoodLoss", r) for r in ("mean", "sum", "none")
] + [
    Case(
        "after_log_softmax",
        lambda b, n: b.op(
            "NegativeLogLikelihoodLoss",
            [b.op("LogSoftmax", [n["x"]], axis=1), n["labels"]],
            reduction="mean",
        ),
        {"x": normal(rng, 4, 3), "labels": rng.integers(0, 3, 4)},
        ("x",),
    )
]

# -- elementwise nonlinearities -----------------------------------------------------------------
CASES["Neg"] = [unary("Neg", normal(rng, 3, 4))]
CASES["Abs"] = [unary("Abs", away_from_zero(rng, 3, 4))]
CASES["Exp"] = [unary("Exp", normal(rng, 3, 4))]
CASES["Log"] = [unary("Log", positive(rng, 3, 4, low=0.2, high=3.0))]
CASES["Sqrt"] = [unary("Sqrt", positive(rng, 3, 4, low=0.2, high=3.0))]
CASES["Reciprocal"] = [unary("Reciprocal", away_from_zero(rng, 3, 4, gap=0.3))]
CASES["Sin"] = [unary("Sin", normal(rng, 3, 4))]
CASES["Cos"] = [unary("Cos", normal(rng, 3, 4))]
CASES["Relu"] = [unary("Relu", away_from_zero(rng, 3, 4))]
CASES["LeakyRelu"] = [
    unary("LeakyRelu", away_from_zero(rng, 3, 4), tag="default"),
    unary("LeakyRelu", away_from_zero(rng, 3, 4), alpha=0.2),
]
CASES["Elu"] = [
    unary("Elu", away_from_zero(rng, 3, 4), tag="default"),
    unary("Elu", away_from_zero(rng, 3, 4), alpha=0.5),
]
CASES["Erf"] = [unary("Erf", normal(rng, 3, 4))]
CASES["Sigmoid"] = [unary("Sigmoid", normal(rng, 3, 4))]
CASES["Tanh"] = [unary("Tanh", normal(rng, 3, 4))]
CASES["Softplus"] = [unary("Softplus", normal(rng, 3, 4))]


def pow_const(exponent: np.ndarray, tag: str) -> Case:
    return Case(
        f"const_{tag}",
        lambda b, n: b.op("Pow", [n["x"], b.const(exponent, dtype=exponent.dtype)]),
        {"x": positive(rng, 3, 4)},
        ("x",),
    )


CASES["Pow"] = [
    pow_const(np.array(3.0), "3.0"),
    pow_const(np.array(0.5), "0.5"),
    pow_const(np.array(2, dtype=np.int64), "int2"),
    pow_const(np.array([1.0, 2.0, -1.0, 1.5]), "row"),
    nary("Pow", positive(rng, 3, 4), normal(rng, 3, 4)),
    nary("Pow", positive(rng, 3, 4), normal(rng, 4)),
    nary("Pow", positive(rng, 3, 4), normal(rng)),
    nary("Pow", positive(rng, 3, 4), normal(rng, 3, 4), wrt=[1], tag="wrt_exponent"),
]
