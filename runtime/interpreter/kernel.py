"""The kernel base class and the small helpers that many kernels share."""

from __future__ import annotations

import inspect
import math
from collections.abc import Iterable
from typing import Any, ClassVar

import numpy as np
from onnx import NodeProto


class Kernel:
    """One ONNX op: `run(*inputs, **attributes)` returns a tuple of output arrays.

    Inputs arrive positionally (None for an omitted optional input), attributes as keyword
    arguments whose defaults are the ONNX defaults. An attribute that became an input in a
    later opset (ReduceSum `axes`, Squeeze `axes`, Clip `min`...) is one parameter that
    receives either form. A kernel instance is made per node and knows its opset.
    """

    op_type: ClassVar[str] = ""

    def __init__(self, node: NodeProto, opset: int):
        self.node = node
        self.opset = opset
        self.n_outputs = len(node.output)

    def run(self, *inputs: Any, **attributes: Any) -> tuple[np.ndarray, ...]:
        raise NotImplementedError

    @classmethod
    def signature_problems(cls, n_inputs: int, attribute_names: Iterable[str]) -> list[str]:
        """Why a node with `n_inputs` inputs and these attributes cannot call `run`, if so."""
        params = list(inspect.signature(cls.run).parameters.values())[1:]
        positional = [p for p in params if p.kind == p.POSITIONAL_OR_KEYWORD]
        variadic = any(p.kind == p.VAR_POSITIONAL for p in params)
        by_name = {p.name: p for p in params if p.kind != p.VAR_POSITIONAL}
        problems = []
        if n_inputs > len(positional) and not variadic:
            problems.append(f"takes at most {len(positional)} inputs, got {n_inputs}")
        for name in attribute_names:
            param = by_name.get(name)
            if param is None:
                problems.append(f"has no attribute {name!r}")
            elif param.kind == param.POSITIONAL_OR_KEYWORD and positional.index(param) < n_inputs:
                problems.append(f"got {name!r} both as an input and as an attribute")
        return problems


def normalize_axis(axis: int, rank: int) -> int:
    """`axis` in [-rank, rank) as a non-negative axis; an error outside that range."""
    axis = int(axis)
    if not -rank <= axis < rank:
        raise ValueError(f"axis {axis} is out of range for rank {rank}")
    return axis + rank if axis < 0 else axis


def int_list(value: Any) -> list[int]:
    """An attribute list or a 1-D integer tensor as a list of Python ints."""
    return [int(v) for v in np.asarray(value).reshape(-1)]


_erf = np.frompyfunc(math.erf, 1, 1)


def erf(x: np.ndarray) -> np.ndarray:
    """The error function to double precision (the C library's), in the dtype of `x`."""
    x = np.asarray(x)
    return np.asarray(_erf(x.astype(np.float64)), dtype=np.float64).astype(x.dtype, copy=False)


def lowest(dtype: np.dtype) -> Any:
    """The smallest value of `dtype`: -inf for floats, the minimum for integers."""
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        return -np.inf
    if dtype.kind == "b":
        return False
    return np.iinfo(dtype).min


def highest(dtype: np.dtype) -> Any:
    """The largest value of `dtype`: inf for floats, the maximum for integers."""
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        return np.inf
    if dtype.kind == "b":
        return True
    return np.iinfo(dtype).max
