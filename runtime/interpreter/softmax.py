"""Softmax and log-softmax along one axis, and the pre-opset-13 flatten-to-2-D form."""

from __future__ import annotations

import math

import numpy as np

from nnc.runtime.interpreter.kernel import normalize_axis


def log_softmax(x: np.ndarray, axis: int) -> np.ndarray:
    """log(softmax(x)) along `axis`, shifted by the maximum so it cannot overflow."""
    shift = np.max(x, axis=axis, keepdims=True)
    shifted = x - np.where(np.isfinite(shift), shift, 0)
    return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))


def softmax(x: np.ndarray, axis: int) -> np.ndarray:
    """exp(x) / sum(exp(x)) along `axis`, shifted by the maximum so it cannot overflow."""
    shift = np.max(x, axis=axis, keepdims=True)
    e = np.exp(x - np.where(np.isfinite(shift), shift, 0))
    return e / np.sum(e, axis=axis, keepdims=True)


def along(fn, x: np.ndarray, axis: int | None, opset: int) -> np.ndarray:
    """Apply `fn` with the axis semantics of the opset.

    From opset 13 it is one axis (default -1). Before, the input is flattened to 2-D at `axis`
    (default 1) and `fn` runs over the second dimension.
    """
    if opset >= 13:
        return fn(x, normalize_axis(-1 if axis is None else axis, x.ndim))
    axis = normalize_axis(1 if axis is None else axis, max(x.ndim, 1))
    rows = math.prod(x.shape[:axis])
    flat = x.reshape(rows, math.prod(x.shape[axis:]))
    return fn(flat, 1).reshape(x.shape)
