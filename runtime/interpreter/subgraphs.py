"""Helpers of the kernels that run subgraphs (Scan, Loop): stacking per-iteration outputs."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from onnx import TypeProto

from nnc.runtime.interpreter.dtypes import numpy_dtype


def stack(elements: Sequence[np.ndarray], declared: TypeProto, axis: int = 0) -> np.ndarray:
    """Per-iteration values stacked on a new `axis` (same shape each iteration, as ONNX
    requires); with no iterations, an empty array shaped from the declared element type."""
    if elements:
        shapes = {np.shape(e) for e in elements}
        if len(shapes) > 1:
            raise ValueError(f"a scan output changed shape across iterations: {sorted(shapes)}")
        return np.stack(elements, axis=axis)
    tensor = declared.tensor_type
    dims = tensor.shape.dim if tensor.HasField("shape") else None
    if dims is None or any(not d.HasField("dim_value") for d in dims):
        raise ValueError(
            "no iterations ran and the subgraph does not declare the static shape of a scan "
            "output, so its empty value has no known shape"
        )
    shape = [d.dim_value for d in dims]
    shape.insert(axis, 0)
    return np.zeros(shape, dtype=numpy_dtype(tensor.elem_type))
