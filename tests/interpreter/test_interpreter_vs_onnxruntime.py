"""The interpreter against ONNX Runtime (CPU), op by op, on small random graphs.

Each case is one node with random inputs (broadcast shapes included), run in float32 and, where
ONNX Runtime has the kernel, float64. ORT's graph optimizations are off, so its kernels, not
its fusions, are compared. The output types declared to ORT are the interpreter's, so a dtype
the interpreter gets wrong fails the ORT session.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import mutually_broadcastable_shapes
from onnx import TensorProto, helper, numpy_helper

from nnc.runtime.interpreter import Interpreter

F32, F64 = np.dtype(np.float32), np.dtype(np.float64)
Maker = Callable[[np.random.Generator, np.dtype], "np.ndarray | None"]


# Input makers: each takes (rng, float dtype of the run) and returns an array.
def F(*shape: int, low: float = -2.0, high: float = 2.0) -> Maker:
    """Uniform floats in the run's float dtype."""
    return lambda rng, dtype: np.asarray(rng.uniform(low, high, shape), dtype=dtype)


def P(*shape: int) -> Maker:
    """Positive floats in [0.5, 2]."""
    return F(*shape, low=0.5, high=2.0)


def NZ(*shape: int) -> Maker:
    """Floats with |x| in [0.5, 2] and a random sign (safe divisors)."""
    return lambda rng, dtype: np.asarray(
        rng.uniform(0.5, 2.0, shape) * rng.choice([-1.0, 1.0], shape), dtype=dtype
    )


def ties(*shape: int) -> Maker:
    """Floats from a small set, so maxima tie."""
    return lambda rng, dtype: np.asarray(rng.integers(-2, 3, shape), dtype=dtype)


def I(*shape: int, low: int = -5, high: int = 6, dtype: Any = np.int64) -> Maker:  # noqa: E743
    """Random integers."""
    return lambda rng, _: np.asarray(rng.integers(low, high, shape), dtype=dtype)


def B(*shape: int) -> Maker:
    """Random booleans."""
    return lambda rng, _: np.asarray(rng.random(shape) < 0.5)


def C(values: Any, dtype: Any = np.int64) -> Maker:
    """A fixed array; dtype "float" means the run's float dtype."""
    return lambda rng, run: np.array(values, dtype=run if dtype == "float" else dtype)


ABSENT: Maker = lambda rng, dtype: None  # noqa: E731  an omitted optional input

SPECIAL = C([[1.0, np.nan, np.inf], [-np.inf, 0.0, -2.5]], "float")
BOTH = (F32, F64)


@dataclass
class Case:
    op: str
    inputs: list[Maker]
    attrs: dict[str, Any] = field(default_factory=dict)
    name: str = ""
    opset: int = 18
    outputs: int = 1
    dtypes: tuple[np.dtype, ...] = BOTH

    @property
    def id(self) -> str:
        return f"{self.op}-{self.name}" if self.name else self.op


def unary(op: str, maker: Maker | None = None, **attrs: Any) -> list[Case]:
    return [Case(op, [maker or F(2, 3, 4, low=-3, high=3)], attrs)]


BROADCAST_SHAPES = [((2, 3, 4), (2, 3, 4)), ((2, 3, 4), (4,)), ((2, 1, 4), (3, 1)), ((), (2, 3))]


def binary(op: str, left=F, right=F, dtypes=BOTH, **attrs: Any) -> list[Case]:
    return [
        Case(op, [left(*a), right(*b)], attrs, name=f"{a}x{b}", dtypes=dtypes)
        for a, b in BROADCAST_SHAPES
    ]


def _graph(nodes, inputs, outputs) -> onnx.GraphProto:
    return helper.make_graph(nodes, "body", inputs, outputs)


def _typed(name: str, elem_type: int, *shape: int) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, elem_type, list(shape))


def _f32(name: str, *shape: int) -> onnx.ValueInfoProto:
    return _typed(name, TensorProto.FLOAT, *shape)


CASES: list[Case] = [
    *[
        c
        for op in ["Abs", "Ceil", "Floor", "Cos", "Sin", "Exp", "Tanh", "Neg", "Sign", "Relu"]
        for c in unary(op)
    ],
    *[c for op in ["Sigmoid", "Softplus", "Softsign", "Erf", "Identity"] for c in unary(op)],
    Case("Sigmoid", [F(4, 5, low=-60, high=60)], name="large"),
    Case("Softplus", [F(4, 5, low=-60, high=60)], name="large"),
    *unary("Log", P(2, 3, 4)),
    *unary("Sqrt", P(2, 3, 4)),
    *unary("Reciprocal", NZ(2, 3, 4)),
    *unary("Elu", alpha=0.7),
    *unary("Selu"),
    Case("Selu", [F(3, 4)], dict(alpha=1.5, gamma=0.8), name="attrs"),
    *unary("LeakyRelu", alpha=0.2),
    *unary("HardSigmoid", alpha=0.3, beta=0.4),
    Case("Gelu", [F(3, 4, low=-4, high=4)], opset=20),
    Case("Gelu", [F(3, 4, low=-4, high=4)], dict(approximate="tanh"), name="tanh", opset=20),
    Case("IsNaN", [SPECIAL]),
    Case("IsInf", [SPECIAL]),
    Case("IsInf", [SPECIAL], dict(detect_negative=0), name="positive"),
    Case("IsInf", [SPECIAL], dict(detect_positive=0), name="negative"),
    Case("Not", [B(3, 4)], dtypes=(F32,)),
    *binary("Add"),
    *binary("Sub"),
    *binary("Mul"),
    *binary("Div", right=NZ),
    *binary("Pow", left=P),
    *binary("Mod", right=NZ, fmod=1),
    Case("Mod", [I(3, 4, low=-9, high=10), C([3, -4, 5, -2])], name="int", dtypes=(F32,)),
    Case("Div", [I(3, 4, low=-9, high=10), C([3, -4, 5, -2])], name="int", dtypes=(F32,)),
    Case("Add", [I(3, 4), I(4)], name="int", dtypes=(F32,)),
    Case("Mul", [I(3, 4, dtype=np.int32), I(4, dtype=np.int32)], name="int32", dtypes=(F32,)),
    *binary("Equal", left=ties, right=ties),
    Case("Equal", [I(3, 4, low=0, high=3), I(4, low=0, high=3)], name="int", dtypes=(F32,)),
    Case("Equal", [B(3, 4), B(4)], name="bool", dtypes=(F32,)),
    *binary("Greater", left=ties, right=ties),
    *binary("GreaterOrEqual", left=ties, right=ties),
    *binary("Less", left=ties, right=ties),
    *binary("LessOrEqual", left=ties, right=ties),
    *[Case(op, [B(2, 3, 4), B(3, 1)], dtypes=(F32,)) for op in ["And", "Or", "Xor"]],
    *[
        c
        for op in ["Max", "Min", "Sum", "Mean"]
        for c in [
            Case(op, [F(2, 3, 4), F(3, 1), F(4)], name="three"),
            Case(op, [F(2, 3)], name="one"),
        ]
    ],
    Case("PRelu", [F(2, 3, 4), F(3, 1)], name="3x1"),
    Case("PRelu", [F(2, 3, 4), F(4)], name="4"),
    Case("Where", [B(2, 3, 4), F(3, 4), F(2, 1, 4)]),
    Case("MatMul", [F(2, 3, 4), F(4, 5)], name="batched"),
    Case("MatMul", [F(5), F(5, 3)], name="vector"),
    Case("MatMul", [F(2, 1, 3, 4), F(3, 4, 2)], name="broadcast"),
    Case("Gemm", [F(3, 4), F(4, 5), F(5)]),
    Case("Gemm", [F(4, 3), F(5, 4), F(3, 5)], dict(transA=1, transB=1, alpha=0.5, beta=2.0)),
    Case("Gemm", [F(3, 4), F(4, 5)], name="no-c"),
    Case("Gemm", [F(3, 4), F(4, 5), F(1, 5)], dict(beta=0.0), name="beta0"),
    Case("Einsum", [F(3, 4), F(4, 5)], dict(equation="ij,jk->ik"), name="matmul"),
    Case("Einsum", [F(2, 3, 4), F(2, 4, 5)], dict(equation="bij,bjk->bik"), name="bmm"),
    Case("Einsum", [F(3, 4)], dict(equation="ij->ji"), name="transpose"),
    Case("Einsum", [F(5), F(5)], dict(equation="i,i"), name="dot"),
    Case("Einsum", [F(2, 3, 4)], dict(equation="...ij->...j"), name="ellipsis"),
    # Convolution.
    Case("Conv", [F(2, 3, 7, 7), F(4, 3, 3, 3), F(4)]),
    Case("Conv", [F(2, 3, 7, 7), F(4, 3, 3, 3)], dict(pads=[1, 1, 1, 1], strides=[2, 2]), "pads"),
    Case("Conv", [F(2, 3, 8, 8), F(4, 3, 3, 3)], dict(dilations=[2, 2]), "dilations"),
    Case("Conv", [F(2, 6, 6, 6), F(6, 2, 3, 3), F(6)], dict(group=3), "group"),
    Case("Conv", [F(2, 4, 6, 6), F(4, 1, 3, 3)], dict(group=4), "depthwise"),
    Case("Conv", [F(2, 3, 6, 7), F(4, 3, 3, 2)], dict(auto_pad="SAME_UPPER", strides=[2, 2]), "su"),
    Case("Conv", [F(2, 3, 6, 7), F(4, 3, 2, 3)], dict(auto_pad="SAME_LOWER", strides=[2, 1]), "sl"),
    Case("Conv", [F(2, 3, 6, 7), F(4, 3, 3, 3)], dict(auto_pad="VALID", strides=[2, 2]), "valid"),
    Case("Conv", [F(2, 3, 6, 6), F(4, 3, 3, 3)], dict(pads=[0, 1, 2, 0]), "asymmetric"),
    Case("Conv", [F(2, 3, 9), F(4, 3, 3), F(4)], dict(pads=[1, 2], strides=[2]), "1d"),
    Case("Conv", [F(1, 2, 4, 5, 5), F(3, 2, 2, 3, 3)], dict(pads=[1, 0, 1, 1, 0, 1]), "3d"),
    Case("Conv", [F(1, 1, 28, 28), F(6, 1, 5, 5), F(6)], dict(pads=[2, 2, 2, 2]), "lenet"),
    Case("ConvTranspose", [F(2, 3, 4, 4), F(3, 2, 3, 3), F(2)]),
    Case("ConvTranspose", [F(2, 3, 4, 4), F(3, 2, 3, 3)], dict(strides=[2, 2]), "strides"),
    Case(
        "ConvTranspose",
        [F(2, 3, 4, 4), F(3, 2, 3, 3)],
        dict(strides=[2, 2], pads=[1, 0, 1, 2]),
        "pads",
    ),
    Case(
        "ConvTranspose",
        [F(2, 3, 4, 4), F(3, 2, 3, 3)],
        dict(strides=[2, 3], output_padding=[1, 2]),
        "output_padding",
    ),
    Case(
        "ConvTranspose",
        [F(2, 3, 4, 4), F(3, 2, 3, 3)],
        dict(strides=[2, 2], output_shape=[8, 9]),
        "output_shape",
    ),
    Case("ConvTranspose", [F(2, 4, 3, 3), F(4, 2, 2, 2), F(4)], dict(group=2), "group"),
    Case("ConvTranspose", [F(2, 3, 4, 4), F(3, 2, 3, 3)], dict(dilations=[2, 1]), "dilations"),
    Case(
        "ConvTranspose",
        [F(2, 3, 4, 5), F(3, 2, 3, 3)],
        dict(strides=[2, 2], auto_pad="SAME_UPPER"),
        "same_upper",
    ),
    Case(
        "ConvTranspose",
        [F(2, 3, 4, 5), F(3, 2, 2, 3)],
        dict(strides=[2, 2], auto_pad="SAME_LOWER"),
        "same_lower",
    ),
    Case("ConvTranspose", [F(2, 3, 5), F(3, 2, 3)], dict(strides=[2], pads=[1, 0]), "1d"),
    Case("Col2Im", [F(1, 8, 12), C([4, 5]), C([2, 2])]),
    Case(
        "Col2Im",
        [F(2, 12, 9), C([5, 5]), C([2, 2])],
        dict(strides=[2, 2], pads=[1, 1, 1, 1]),
        "strided",
    ),
    Case("Col2Im", [F(1, 4, 9), C([5, 5]), C([2, 2])], dict(dilations=[2, 2]), "dilated"),
    # Pooling.
    Case("MaxPool", [F(2, 3, 8, 8)], dict(kernel_shape=[2, 2], strides=[2, 2]), outputs=2),
    Case(
        "MaxPool",
        [F(2, 3, 7, 7)],
        dict(kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[2, 2]),
        "pads",
        outputs=2,
    ),
    Case(
        "MaxPool",
        [F(2, 3, 8, 8)],
        dict(kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1),
        "ceil",
        outputs=2,
    ),
    Case("MaxPool", [F(1, 2, 9, 9)], dict(kernel_shape=[2, 2], dilations=[2, 2]), "dilations"),
    Case(
        "MaxPool",
        [F(2, 3, 6, 5)],
        dict(kernel_shape=[2, 3], storage_order=1),
        "storage_order",
        outputs=2,
    ),
    Case(
        "MaxPool",
        [F(2, 3, 7, 6)],
        dict(kernel_shape=[3, 3], strides=[2, 2], auto_pad="SAME_UPPER"),
        "same_upper",
    ),
    Case(
        "MaxPool",
        [F(2, 3, 7, 6)],
        dict(kernel_shape=[2, 3], strides=[2, 2], auto_pad="SAME_LOWER"),
        "same_lower",
    ),
    Case("MaxPool", [F(2, 3, 9)], dict(kernel_shape=[3], strides=[2], pads=[1, 1]), "1d"),
    Case("MaxPool", [F(1, 2, 4, 5, 6)], dict(kernel_shape=[2, 2, 3]), "3d", outputs=2),
    Case(
        "MaxPool", [I(2, 3, 6, 6, dtype=np.int8)], dict(kernel_shape=[2, 2]), "int8", dtypes=(F32,)
    ),
    Case("AveragePool", [F(2, 3, 8, 8)], dict(kernel_shape=[2, 2], strides=[2, 2])),
    Case(
        "AveragePool",
        [F(2, 3, 7, 7)],
        dict(kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[2, 2]),
        "pads",
    ),
    Case(
        "AveragePool",
        [F(2, 3, 7, 7)],
        dict(kernel_shape=[3, 3], pads=[1, 1, 1, 1], count_include_pad=1),
        "count_include_pad",
    ),
    Case(
        "AveragePool",
        [F(2, 3, 8, 8)],
        dict(kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1),
        "ceil",
    ),
    Case(
        "AveragePool",
        [F(2, 3, 8, 8)],
        dict(
            kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1, pads=[1, 1, 1, 1], count_include_pad=1
        ),
        "ceil_include_pad",
    ),
    Case(
        "AveragePool",
        [F(2, 3, 7, 6)],
        dict(kernel_shape=[3, 2], strides=[2, 2], auto_pad="SAME_LOWER"),
        "same_lower",
    ),
    Case(
        "AveragePool",
        [F(1, 2, 9, 9)],
        dict(kernel_shape=[2, 2], dilations=[2, 2]),
        "dilations",
        opset=19,
    ),
    Case("AveragePool", [F(2, 3, 9)], dict(kernel_shape=[3], strides=[2], pads=[1, 1]), "1d"),
    Case("GlobalAveragePool", [F(2, 3, 5, 6)]),
    Case("GlobalMaxPool", [F(2, 3, 5, 6)]),
    Case("LRN", [F(2, 5, 4, 4)], dict(size=3)),
    Case("LRN", [F(2, 6, 3, 3)], dict(size=5, alpha=0.01, beta=0.5, bias=2.0), "attrs"),
    # Normalization and dropout.
    Case("BatchNormalization", [F(2, 3, 4, 5), P(3), F(3), F(3), P(3)], dict(epsilon=1e-3)),
    Case("BatchNormalization", [F(2, 3), P(3), F(3), F(3), P(3)], name="2d"),
    Case(
        "BatchNormalization",
        [F(4, 3, 2, 2), P(3), F(3), F(3), P(3)],
        dict(training_mode=1, momentum=0.8),
        "training",
        outputs=3,
    ),
    Case("BatchNormalization", [F(2, 3, 4), P(3), F(3), F(3), P(3)], name="opset9", opset=9),
    Case("Dropout", [F(3, 4)], outputs=2),
    Case("Dropout", [F(3, 4), C(0.3, "float"), C(False, np.bool_)], name="inference", outputs=2),
    Case("Dropout", [F(3, 4)], dict(ratio=0.3), name="opset7", opset=7),
    # Softmax family.
    *[
        Case(op, [F(2, 3, 4, low=-30, high=30)], dict(axis=axis), f"axis{axis}")
        for op in ["Softmax", "LogSoftmax"]
        for axis in [-1, 1, 0]
    ],
    *[
        Case(op, [F(2, 3, 4)], attrs, f"opset11-{tag}", opset=11)
        for op in ["Softmax", "LogSoftmax"]
        for tag, attrs in [("default", {}), ("axis2", dict(axis=2)), ("axis0", dict(axis=0))]
    ],
    # Reductions.
    *[
        c
        for op in [
            "ReduceSum",
            "ReduceMean",
            "ReduceMax",
            "ReduceMin",
            "ReduceProd",
            "ReduceL1",
            "ReduceL2",
            "ReduceLogSumExp",
            "ReduceSumSquare",
            "ReduceLogSum",
        ]
        for c in [
            Case(op, [P(2, 3, 4), C([1])], name="axis1"),
            Case(op, [P(2, 3, 4), C([0, -1])], dict(keepdims=0), "axes0-1"),
            Case(op, [P(2, 3, 4)], dict(keepdims=0), "all"),
            Case(op, [P(2, 3, 4)], dict(noop_with_empty_axes=1), "noop"),
            Case(op, [P(2, 3, 4)], dict(axes=[1], keepdims=0), "opset13", opset=13),
        ]
        if op != "ReduceSum"  # its axes became an input in opset 13
    ],
    *[
        c
        for op in ["ReduceSum"]
        for c in [
            Case(op, [P(2, 3, 4), C([1])], name="axis1"),
            Case(op, [P(2, 3, 4), C([0, -1])], dict(keepdims=0), "axes0-1"),
            Case(op, [P(2, 3, 4)], dict(keepdims=0), "all"),
            Case(op, [P(2, 3, 4)], dict(noop_with_empty_axes=1), "noop"),
        ]
    ],
    Case("ReduceSum", [F(2, 3, 4)], dict(axes=[0, 2]), "opset11", opset=11),
    Case("ReduceSum", [I(3, 4), C([1])], name="int", dtypes=(F32,)),
    Case("ReduceMax", [I(3, 4, dtype=np.int32), C([0])], name="int32", dtypes=(F32,)),
    Case("ArgMax", [ties(3, 4, 5)], dict(axis=1)),
    Case("ArgMax", [ties(3, 4, 5)], dict(axis=-1, keepdims=0, select_last_index=1), "last"),
    Case("ArgMin", [ties(3, 4, 5)], dict(axis=1)),
    Case("ArgMin", [ties(3, 4, 5)], dict(axis=0, keepdims=0, select_last_index=1), "last"),
    # Types.
    Case("Cast", [F(3, 4, low=-5, high=5)], dict(to=TensorProto.INT32), "to_int32"),
    Case("Cast", [F(3, 4)], dict(to=TensorProto.DOUBLE), "to_double"),
    Case("Cast", [F(3, 4)], dict(to=TensorProto.FLOAT), "to_float"),
    Case("Cast", [F(3, 4)], dict(to=TensorProto.FLOAT16), "to_float16"),
    Case("Cast", [ties(3, 4)], dict(to=TensorProto.BOOL), "to_bool"),
    Case("Cast", [I(3, 4)], dict(to=TensorProto.FLOAT), "int_to_float", dtypes=(F32,)),
    Case("Cast", [B(3, 4)], dict(to=TensorProto.FLOAT), "bool_to_float", dtypes=(F32,)),
    Case("CastLike", [F(3, 4, low=-5, high=5), C([], np.int64)], name="to_int64"),
    Case("CastLike", [I(3, 4), C([], "float")], name="to_float"),
    Case("Clip", [F(3, 4), C(-0.5, "float"), C(0.5, "float")]),
    Case("Clip", [F(3, 4), C(-0.5, "float")], name="min"),
    Case("Clip", [F(3, 4), ABSENT, C(0.5, "float")], name="max"),
    Case("Clip", [F(3, 4)], name="none"),
    Case("Clip", [I(3, 4), C(-2), C(3)], name="int", dtypes=(F32,)),
    Case("Clip", [F(3, 4)], dict(min=-0.5, max=0.25), "opset6", opset=6, dtypes=(F32,)),
    # Shapes and indexing.
    Case("Concat", [F(2, 3), F(2, 1), F(2, 4)], dict(axis=1)),
    Case("Concat", [F(2, 3), F(4, 3)], dict(axis=-2), "negative"),
    Case(
        "Constant",
        [],
        dict(value=numpy_helper.from_array(np.arange(6.0, dtype=np.float32).reshape(2, 3))),
        dtypes=(F32,),
    ),
    Case("Constant", [], dict(value_floats=[1.0, 2.5]), "floats", dtypes=(F32,)),
    Case("Constant", [], dict(value_int=7), "int", dtypes=(F32,)),
    Case("Constant", [], dict(value_ints=[1, 2, 3]), "ints", dtypes=(F32,)),
    Case("Constant", [], dict(value_float=0.5), "float", dtypes=(F32,)),
    Case("ConstantOfShape", [C([2, 3])], dtypes=(F32,)),
    Case(
        "ConstantOfShape",
        [C([3, 1, 2])],
        dict(value=numpy_helper.from_array(np.array([1.5], np.float64))),
        "double",
        dtypes=(F32,),
    ),
    Case(
        "ConstantOfShape",
        [C([4])],
        dict(value=numpy_helper.from_array(np.array([-3], np.int64))),
        "int",
        dtypes=(F32,),
    ),
    Case("CumSum", [F(3, 4), C(1)]),
    Case("CumSum", [F(3, 4), C(0)], dict(exclusive=1), "exclusive"),
    Case("CumSum", [F(3, 4), C(-1)], dict(reverse=1), "reverse"),
    Case("CumSum", [F(3, 4), C(1, np.int32)], dict(exclusive=1, reverse=1), "both"),
    Case("CumSum", [I(3, 4), C(1)], name="int", dtypes=(F32,)),
    Case("Expand", [F(3, 1), C([2, 3, 4])]),
    Case("Expand", [F(1, 4), C([3, 1])], name="bidirectional"),
    *[Case("Flatten", [F(2, 3, 4, 5)], dict(axis=a), f"axis{a}") for a in [0, 1, 2, -1, 4]],
    Case("Gather", [F(5, 4), C([0, -1, 2])]),
    Case("Gather", [F(3, 5, 2), C([[0, 4], [-2, 1]])], dict(axis=1), "axis1"),
    Case("Gather", [F(5, 4), C(3)], name="scalar"),
    Case("Gather", [F(5, 4), C([1, 0], np.int32)], dict(axis=-1), "int32"),
    Case("GatherElements", [F(3, 4), C([[0, 3], [-1, 1], [2, 2]])], dict(axis=1)),
    Case("GatherElements", [F(3, 4), C([[0, 2, 1, 0]])], dict(axis=0), "axis0"),
    Case("OneHot", [C([[0, 2], [1, -1]]), C(4), C([0.0, 1.0], "float")], dtypes=(F32,)),
    Case("OneHot", [C([0, 3, 1]), C(5.0, "float"), C([-1.0, 2.0], "float")], dict(axis=0), "axis0"),
    Case("OneHot", [C([0, 3, 1]), C(5), C([-1, 2])], name="int", dtypes=(F32,)),
    Case("Pad", [F(3, 4), C([1, 2, 0, 1])]),
    Case("Pad", [F(3, 4), C([1, 2, 2, 1]), C(0.5, "float")], name="value"),
    Case("Pad", [F(3, 4), C([1, 2, 2, 1])], dict(mode="reflect"), "reflect"),
    Case("Pad", [F(3, 4), C([2, 0, 1, 3])], dict(mode="edge"), "edge"),
    Case("Pad", [F(3, 4), C([-1, 1, 0, -2])], name="negative"),
    Case("Pad", [F(2, 3, 4), C([1, 2]), ABSENT, C([-1])], name="axes"),
    Case("Pad", [F(3, 4)], dict(pads=[1, 0, 0, 2], value=1.5), "opset2", opset=2, dtypes=(F32,)),
    Case("Range", [C(0.5, "float"), C(4.1, "float"), C(0.7, "float")]),
    Case("Range", [C(10), C(-3), C(-4)], name="int", dtypes=(F32,)),
    Case("Reshape", [F(2, 3, 4), C([0, -1])]),
    Case("Reshape", [F(2, 3, 4), C([-1])], name="flat"),
    Case("Reshape", [F(2, 3, 4), C([4, 0, 2])], name="zero"),
    Case("Reshape", [F(2, 0, 4), C([0, 4])], dict(allowzero=1), "allowzero"),
    Case("ScatterElements", [F(3, 4), C([[1, 0, 2, 0]]), F(1, 4)]),
    Case(
        "ScatterElements",
        [F(3, 4), C([[0, 0], [3, -1], [1, 1]]), F(3, 2)],
        dict(axis=1, reduction="add"),
        "add",
    ),
    Case(
        "ScatterElements",
        [F(3, 4), C([[0, 0], [3, 1]]), F(2, 2)],
        dict(axis=1, reduction="mul"),
        "mul",
    ),
    Case(
        "ScatterElements",
        [F(3, 4), C([[0, 0], [3, 1]]), F(2, 2)],
        dict(axis=1, reduction="max"),
        "max",
    ),
    Case("ScatterND", [F(4, 3), C([[1], [3]]), F(2, 3)]),
    Case("ScatterND", [F(4, 3), C([[1, 2], [-1, 0]]), F(2)], name="points"),
    Case("ScatterND", [F(4, 3), C([[1], [1], [2]]), F(3, 3)], dict(reduction="add"), "add"),
    Case("ScatterND", [F(4, 3), C([[1], [1]]), F(2, 3)], dict(reduction="min"), "min"),
    Case("Shape", [F(2, 3, 4)]),
    Case("Shape", [F(2, 3, 4)], dict(start=1), "start"),
    Case("Shape", [F(2, 3, 4)], dict(start=-2, end=-1), "slice"),
    Case("Size", [F(2, 3, 4)]),
    Case("Slice", [F(5, 6), C([1, 0]), C([4, 10]), C([0, 1]), C([1, 2])]),
    Case("Slice", [F(5, 6), C([-1]), C([-100]), C([1]), C([-2])], name="reverse"),
    Case("Slice", [F(5, 6), C([4, 1]), C([0, 3])], name="empty"),
    Case("Slice", [F(5, 6, 2), C([2]), C([2**62]), C([-2])], name="to_end"),
    Case("Slice", [F(5, 6)], dict(starts=[1], ends=[3], axes=[1]), "opset1", opset=1),
    Case("Split", [F(4, 5), C([2, 3])], dict(axis=1), outputs=2),
    Case("Split", [F(6, 2)], name="equal", outputs=3, opset=13),
    Case("Split", [F(7, 2)], dict(num_outputs=3), "uneven", outputs=3),
    Case("Split", [F(2, 5)], dict(axis=-1, split=[1, 4]), "opset11", opset=11, outputs=2),
    Case("Squeeze", [F(1, 3, 1, 2), C([0, 2])]),
    Case("Squeeze", [F(1, 3, 1, 2)], name="all"),
    Case("Squeeze", [F(1, 3, 1, 2)], dict(axes=[-2]), "opset11", opset=11),
    Case("Unsqueeze", [F(3, 2), C([0, -1])]),
    Case("Unsqueeze", [F(3, 2), C([3, 1])], name="unsorted"),
    Case("Unsqueeze", [F(3, 2)], dict(axes=[1]), "opset11", opset=11),
    Case("Tile", [F(2, 3), C([2, 1])]),
    Case("Tile", [F(2, 1, 3), C([1, 4, 2])], name="3d"),
    Case("Transpose", [F(2, 3, 4)], dict(perm=[1, 0, 2])),
    Case("Transpose", [F(2, 3, 4)], name="default"),
    # Further ops the compiler may use.
    *unary("Tan", F(2, 3, 4, low=-1.2, high=1.2)),
    *[c for op in ["Asin", "Acos", "Atanh"] for c in unary(op, F(2, 3, 4, low=-0.9, high=0.9))],
    *[c for op in ["Atan", "Sinh", "Cosh", "Asinh"] for c in unary(op)],
    *unary("Acosh", F(2, 3, 4, low=1.1, high=3)),
    *unary("Round", C([[0.5, 1.5, 2.5, -0.5], [-1.5, 1.2, -2.7, 3.49]], "float")),
    *unary("HardSwish", F(3, 4, low=-5, high=5)),
    *unary("Mish"),
    *unary("Celu", alpha=0.8),
    *unary("ThresholdedRelu", alpha=0.5),
    *unary("Shrink", bias=0.2, lambd=0.6),
    Case("Trilu", [F(2, 4, 5), C(1)]),
    Case("Trilu", [F(2, 4, 5), C(-1)], dict(upper=0), "lower"),
    Case("Trilu", [F(4, 4)], name="no-k"),
    Case("EyeLike", [F(3, 4)], dict(k=1)),
    Case("EyeLike", [F(4, 3)], dict(k=-1, dtype=TensorProto.INT64), "int"),
    Case("NonZero", [ties(3, 4)]),
    Case("Compress", [F(3, 4), C([True, False, True], np.bool_)], dict(axis=0)),
    Case("Compress", [F(3, 4), C([True, False, True, True, False], np.bool_)], name="flat"),
    Case("LpNormalization", [F(3, 4)]),
    Case("LpNormalization", [F(3, 4)], dict(axis=0, p=1), "l1"),
    Case("Hardmax", [ties(2, 3, 4)]),
    Case("Hardmax", [ties(2, 3, 4)], name="opset11", opset=11),
    Case("DepthToSpace", [F(1, 8, 2, 3)], dict(blocksize=2)),
    Case("DepthToSpace", [F(1, 8, 2, 3)], dict(blocksize=2, mode="CRD"), "crd"),
    Case("SpaceToDepth", [F(1, 2, 4, 6)], dict(blocksize=2)),
    Case("TopK", [F(3, 5), C([2])], outputs=2),
    Case("TopK", [ties(3, 5), C([2])], dict(axis=0, largest=0), "smallest", outputs=2),
    Case("GatherND", [F(2, 3, 4), C([[0, 1], [1, -1]])]),
    Case("GatherND", [F(2, 3, 4), C([[[1]], [[2]]])], dict(batch_dims=1), "batch_dims"),
    Case("InstanceNormalization", [F(2, 3, 4, 5), P(3), F(3)]),
    Case("LayerNormalization", [F(2, 3, 4), P(4), F(4)], outputs=3),
    Case("LayerNormalization", [F(2, 3, 4), P(3, 4)], dict(axis=1), "axis1", outputs=3),
    # Losses.
    *[
        Case("SoftmaxCrossEntropyLoss", [F(4, 5), C([0, 4, 2, 2])], dict(reduction=r), r)
        for r in ["mean", "sum", "none"]
    ],
    Case(
        "SoftmaxCrossEntropyLoss",
        [F(4, 5), C([0, 4, 2, 1]), P(5)],
        dict(ignore_index=2),
        "weights_ignore",
        outputs=2,
    ),
    Case(
        "SoftmaxCrossEntropyLoss",
        [F(2, 4, 3), C([[0, 3, 1], [1, 2, -1]])],
        dict(ignore_index=-1, reduction="sum"),
        "nd_ignore",
        outputs=2,
    ),
    *[
        Case("NegativeLogLikelihoodLoss", [F(4, 5), C([0, 4, 2, 2])], dict(reduction=r), r)
        for r in ["mean", "sum", "none"]
    ],
    Case(
        "NegativeLogLikelihoodLoss",
        [F(4, 5), C([0, 4, 2, 1]), P(5)],
        dict(ignore_index=4),
        "weights_ignore",
    ),
    Case(
        "NegativeLogLikelihoodLoss",
        [F(2, 4, 3), C([[0, 3, 1], [1, 2, 0]]), P(4)],
        dict(reduction="none"),
        "nd",
    ),
    # Recurrent layers; test_interpreter_recurrent.py compares every option combination.
    Case("RNN", [F(5, 3, 4), F(1, 3, 4), F(1, 3, 3)], dict(hidden_size=3), outputs=2),
    Case(
        "GRU",
        [F(5, 3, 4), F(2, 9, 4), F(2, 9, 3)],
        dict(hidden_size=3, direction="bidirectional"),
        outputs=2,
    ),
    Case(
        "LSTM",
        [F(5, 3, 4), F(1, 12, 4), F(1, 12, 3), F(1, 24)],
        dict(hidden_size=3, direction="reverse"),
        outputs=3,
    ),
    # Control flow, float32 only (the bodies declare their types): the bodies read the node's
    # inputs x0, x1... from the outer graph by name. test_interpreter_subgraphs.py has more.
    *[
        Case(
            "If",
            [C(cond, np.bool_)],
            dict(
                then_branch=_graph(
                    [helper.make_node("Cast", ["x0"], ["t"], to=TensorProto.FLOAT)],
                    [],
                    [_f32("t")],
                ),
                else_branch=_graph(
                    [
                        helper.make_node("Not", ["x0"], ["n"]),
                        helper.make_node("Cast", ["n"], ["e"], to=TensorProto.DOUBLE),
                        helper.make_node("Cast", ["e"], ["f"], to=TensorProto.FLOAT),
                    ],
                    [],
                    [_f32("f")],
                ),
            ),
            name=str(cond),
            dtypes=(F32,),
        )
        for cond in (True, False)
    ],
    Case(
        "Loop",
        [C(3), C(True, np.bool_), F(2, 3)],
        dict(
            body=_graph(
                [
                    helper.make_node("Mul", ["acc", "x2"], ["next"]),
                    helper.make_node("Identity", ["c"], ["c_out"]),
                ],
                [_typed("i", TensorProto.INT64), _typed("c", TensorProto.BOOL), _f32("acc", 2, 3)],
                [_typed("c_out", TensorProto.BOOL), _f32("next", 2, 3), _f32("next", 2, 3)],
            )
        ),
        outputs=2,
        dtypes=(F32,),
    ),
    Case(
        "Scan",
        [F(2, 3), F(4, 2, 3)],
        dict(
            body=_graph(
                [
                    helper.make_node("Add", ["s", "x_t"], ["pre"]),
                    helper.make_node("Tanh", ["pre"], ["s_next"]),
                    helper.make_node("Sigmoid", ["s_next"], ["y_t"]),
                ],
                [_f32("s", 2, 3), _f32("x_t", 2, 3)],
                [_f32("s_next", 2, 3), _f32("y_t", 2, 3)],
            ),
            num_scan_inputs=1,
            scan_input_directions=[1],
        ),
        outputs=2,
        dtypes=(F32,),
    ),
]

# ONNX Runtime (CPU) has no float64 kernel for these ops: the interpreter's float64 result is
# compared with ORT's float32 result on the same inputs, at float32 tolerance.
ORT_NO_FLOAT64 = {
    "Acos",
    "Acosh",
    "Asin",
    "Asinh",
    "Atan",
    "Atanh",
    "AveragePool",
    "Celu",
    "Cosh",
    "Hardmax",
    "InstanceNormalization",
    "NonZero",
    "Sinh",
    "Tan",
    "Col2Im",
    "Conv",
    "ConvTranspose",
    "Erf",
    "Gelu",
    "GlobalAveragePool",
    "GlobalMaxPool",
    "LRN",
    "Mean",
    "OneHot",
    "RNN",
    "GRU",
    "LSTM",
}


def _model(
    case: Case, arrays: list[np.ndarray | None], results: list[np.ndarray] | None
) -> onnx.ModelProto:
    """The one-node model of a case; outputs typed like `results` (untyped if None)."""
    names = [f"x{i}" if a is not None else "" for i, a in enumerate(arrays)]
    inputs = [
        helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(a.dtype), a.shape)
        for n, a in zip(names, arrays, strict=True)
        if a is not None
    ]
    if results is None:
        outputs = [helper.make_empty_tensor_value_info(f"y{i}") for i in range(case.outputs)]
    else:
        outputs = [
            helper.make_tensor_value_info(
                f"y{i}", helper.np_dtype_to_tensor_dtype(r.dtype), r.shape
            )
            for i, r in enumerate(results)
        ]
    node = helper.make_node(
        case.op, names, [f"y{i}" for i in range(case.outputs)], name=f"{case.op}_0", **case.attrs
    )
    opsets = [helper.make_opsetid("", case.opset)]
    model = helper.make_model(
        helper.make_graph([node], "case", inputs, outputs),
        opset_imports=opsets,
        ir_version=8 if case.opset <= 18 else helper.find_min_ir_version_for(opsets),
    )
    if results is not None:
        onnx.checker.check_model(model)
    return model


def run_both(case_op, arrays, outputs, attrs, opset=18):
    """Run one node on the interpreter and ORT; return both output lists."""
    case = Case(case_op, [], attrs, opset=opset, outputs=outputs)
    return _run_case(case, arrays)


def _run_case(case: Case, arrays: list[np.ndarray | None]):
    """Both engines' outputs; ORT runs float64 inputs in float32 for ops in ORT_NO_FLOAT64."""
    probe = _model(case, arrays, None)
    feeds = {f"x{i}": a for i, a in enumerate(arrays) if a is not None}
    ours = Interpreter(probe).run(None, feeds)
    if case.op in ORT_NO_FLOAT64:
        arrays = [_float32(a) for a in arrays]
        feeds = {f"x{i}": a for i, a in enumerate(arrays) if a is not None}
        model = _model(case, arrays, [_float32(v) for v in ours])
    else:
        model = _model(case, arrays, ours)
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(
        model.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )
    theirs = session.run(None, feeds)
    return ours, theirs


def _float32(a: np.ndarray | None) -> np.ndarray | None:
    return a.astype(F32) if a is not None and a.dtype == F64 else a


TOLERANCE = {F32: dict(rtol=1e-5, atol=1e-6), F64: dict(rtol=1e-7, atol=1e-12)}


def assert_same(ours: list[np.ndarray], theirs: list[np.ndarray]) -> None:
    """Same dtypes, shapes and values (float64 against a float32 ORT: float32 tolerance)."""
    assert len(ours) == len(theirs)
    for i, (a, b) in enumerate(zip(ours, theirs, strict=True)):
        b = np.asarray(b)
        if a.dtype == F64 and b.dtype == F32:  # an op in ORT_NO_FLOAT64
            b = b.astype(F64)
            a = a.astype(F32).astype(F64)
            np.testing.assert_allclose(a, b, err_msg=f"output {i}", **TOLERANCE[F32])
            continue
        assert a.dtype == b.dtype, f"output {i}: dtype {a.dtype}, ORT {b.dtype}"
        assert a.shape == b.shape, f"output {i}: shape {a.shape}, ORT {b.shape}"
        tolerance = TOLERANCE.get(a.dtype, dict(rtol=1e-3, atol=1e-3))
        if a.dtype.kind == "f":
            np.testing.assert_allclose(a, b, err_msg=f"output {i}", **tolerance)
        else:
            np.testing.assert_array_equal(a, b, err_msg=f"output {i}")


def _params():
    for index, case in enumerate(CASES):
        for dtype in case.dtypes:
            yield pytest.param(case, dtype, index, id=f"{case.id}-{dtype.name}")


@pytest.mark.parametrize(("case", "dtype", "seed"), list(_params()))
def test_matches_onnxruntime(case: Case, dtype: np.dtype, seed: int):
    rng = np.random.default_rng(seed)
    arrays = [make(rng, dtype) for make in case.inputs]
    ours, theirs = _run_case(case, arrays)
    assert_same(ours, theirs)


def test_every_supported_op_is_compared_with_onnxruntime():
    missing = set(Interpreter.supported_ops()) - {case.op for case in CASES}
    assert not missing, f"supported ops with no ONNX Runtime comparison: {sorted(missing)}"


# Property tests: random broadcast shapes and random conv/pool geometry.
BINARY = ["Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "Sum", "Mean", "PRelu", "Greater"]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    op=st.sampled_from(BINARY),
    shapes=mutually_broadcastable_shapes(num_shapes=2, max_dims=4, max_side=3),
    dtype=st.sampled_from([F32, F64]),
    seed=st.integers(0, 2**16),
)
def test_broadcasting_matches_onnxruntime(op, shapes, dtype, seed):
    rng = np.random.default_rng(seed)
    a_shape, b_shape = shapes.input_shapes
    if op == "PRelu" and np.broadcast_shapes(a_shape, b_shape) != a_shape:
        b_shape = b_shape[len(b_shape) - len(a_shape) :] if len(b_shape) > len(a_shape) else b_shape
        b_shape = tuple(1 for _ in b_shape)
    low = 0.5 if op == "Pow" else -2.0
    a = np.asarray(rng.uniform(low, 2.0, a_shape), dtype=dtype)
    b = np.asarray(rng.uniform(0.5, 2.0, b_shape) * rng.choice([-1, 1], b_shape), dtype=dtype)
    assert_same(*run_both(op, [a, b], 1, {}))


@st.composite
def window_geometry(draw, transpose: bool = False):
    """Random spatial geometry for Conv, ConvTranspose and pooling: 1 or 2 spatial axes."""
    n = draw(st.integers(1, 2))
    kernel = [draw(st.integers(1, 3)) for _ in range(n)]
    strides = [draw(st.integers(1, 3)) for _ in range(n)]
    dilations = [draw(st.integers(1, 2)) for _ in range(n)]
    pads = [draw(st.integers(0, k - 1)) for k in kernel * 2]
    extents = [(k - 1) * d + 1 for k, d in zip(kernel, dilations, strict=True)]
    auto_pad = draw(st.sampled_from(["NOTSET", "NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID"]))
    if transpose:
        sizes = [draw(st.integers(1, 5)) for _ in range(n)]
    else:
        # The window must fit the padded input (no pads with VALID; SAME always fits).
        room = [0 if auto_pad == "VALID" else pads[i] + pads[i + n] for i in range(n)]
        sizes = [draw(st.integers(max(e - r, 1), 8)) for e, r in zip(extents, room, strict=True)]
    if auto_pad.startswith("SAME"):
        # ORT rejects dilated Conv with SAME, and sizes dilated SAME pooling windows as if
        # undilated (against the spec, which the node cases check).
        dilations = [1] * n
    attrs = dict(kernel_shape=kernel, strides=strides, dilations=dilations)
    if auto_pad == "NOTSET":
        attrs["pads"] = pads
    else:
        attrs["auto_pad"] = auto_pad
    return sizes, attrs


@settings(max_examples=60, deadline=None)
@given(geometry=window_geometry(), group=st.integers(1, 2), seed=st.integers(0, 2**16))
def test_conv_geometry_matches_onnxruntime(geometry, group, seed):
    sizes, attrs = geometry
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, (2, 2 * group, *sizes)).astype(F32)
    w = rng.uniform(-1, 1, (3 * group, 2, *attrs["kernel_shape"])).astype(F32)
    assert_same(
        *run_both(
            "Conv", [x, w, rng.uniform(-1, 1, 3 * group).astype(F32)], 1, {**attrs, "group": group}
        )
    )


@settings(max_examples=60, deadline=None)
@given(
    geometry=window_geometry(transpose=True),
    group=st.integers(1, 2),
    explicit_shape=st.booleans(),
    data=st.data(),
)
def test_conv_transpose_geometry_matches_onnxruntime(geometry, group, explicit_shape, data):
    sizes, attrs = geometry
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16)))
    strides, dilations = attrs["strides"], attrs["dilations"]
    if attrs.get("auto_pad") == "VALID":
        attrs.pop("auto_pad")
    if "auto_pad" not in attrs:
        # ORT wants output_padding below the stride (the spec: below the stride or dilation).
        limits = [s - 1 for s in strides]
        attrs["output_padding"] = [data.draw(st.integers(0, m)) for m in limits]
        if explicit_shape:
            attrs.pop("pads", None)
            full = [
                s * (n - 1) + (k - 1) * d + 1 + p
                for s, n, k, d, p in zip(
                    strides,
                    sizes,
                    attrs["kernel_shape"],
                    dilations,
                    attrs["output_padding"],
                    strict=True,
                )
            ]
            attrs["output_shape"] = [max(f - data.draw(st.integers(0, 2)), 1) for f in full]
    if "pads" in attrs:
        n = len(sizes)
        full = [
            s * (size - 1) + (k - 1) * d + 1
            for s, size, k, d in zip(strides, sizes, attrs["kernel_shape"], dilations, strict=True)
        ]
        if any(f - attrs["pads"][i] - attrs["pads"][i + n] < 1 for i, f in enumerate(full)):
            attrs["pads"] = [0] * (2 * n)  # pads that crop everything make an invalid model
    x = rng.uniform(-1, 1, (2, 2 * group, *sizes)).astype(F32)
    w = rng.uniform(-1, 1, (2 * group, 3, *attrs["kernel_shape"])).astype(F32)
    assert_same(*run_both("ConvTranspose", [x, w], 1, {**attrs, "group": group}))


@settings(max_examples=60, deadline=None)
@given(
    geometry=window_geometry(),
    ceil_mode=st.integers(0, 1),
    storage_order=st.integers(0, 1),
    seed=st.integers(0, 2**16),
)
def test_max_pool_geometry_matches_onnxruntime(geometry, ceil_mode, storage_order, seed):
    sizes, attrs = geometry
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, (2, 3, *sizes)).astype(F32)
    attrs = {**attrs, "ceil_mode": ceil_mode, "storage_order": storage_order}
    assert_same(*run_both("MaxPool", [x], 2, attrs))


@settings(max_examples=60, deadline=None)
@given(
    geometry=window_geometry(),
    ceil_mode=st.integers(0, 1),
    count_include_pad=st.integers(0, 1),
    seed=st.integers(0, 2**16),
)
def test_average_pool_geometry_matches_onnxruntime(geometry, ceil_mode, count_include_pad, seed):
    sizes, attrs = geometry
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, (2, 3, *sizes)).astype(F32)
    attrs = {**attrs, "ceil_mode": ceil_mode, "count_include_pad": count_include_pad}
    assert_same(*run_both("AveragePool", [x], 1, attrs, opset=19))
