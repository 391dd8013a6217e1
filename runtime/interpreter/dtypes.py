"""The tensor element types the interpreter handles, as NumPy dtypes."""

from __future__ import annotations

import numpy as np
from onnx import TensorProto

DTYPES: dict[int, np.dtype] = {
    TensorProto.FLOAT: np.dtype(np.float32),
    TensorProto.DOUBLE: np.dtype(np.float64),
    TensorProto.FLOAT16: np.dtype(np.float16),
    TensorProto.INT8: np.dtype(np.int8),
    TensorProto.INT16: np.dtype(np.int16),
    TensorProto.INT32: np.dtype(np.int32),
    TensorProto.INT64: np.dtype(np.int64),
    TensorProto.UINT8: np.dtype(np.uint8),
    TensorProto.UINT16: np.dtype(np.uint16),
    TensorProto.UINT32: np.dtype(np.uint32),
    TensorProto.UINT64: np.dtype(np.uint64),
    TensorProto.BOOL: np.dtype(np.bool_),
}


def numpy_dtype(elem_type: int) -> np.dtype:
    """The NumPy dtype of an ONNX element type; an error for the types out of scope."""
    if elem_type not in DTYPES:
        name = (
            TensorProto.DataType.Name(elem_type)
            if elem_type in TensorProto.DataType.values()
            else elem_type
        )
        raise TypeError(f"element type {name} is not supported by the NumPy interpreter")
    return DTYPES[elem_type]
