import numpy as np

from nnc.runtime.interpreter.kernel import Kernel, normalize_axis
from nnc.runtime.interpreter.registry import register


@register("ArgMax")
class ArgMax(Kernel):
    """Index of the largest entry along an axis (the first of ties, or the last)."""

    def run(self, data, *, axis=0, keepdims=1, select_last_index=0):
        axis = normalize_axis(axis, data.ndim)
        if select_last_index:
            index = data.shape[axis] - 1 - np.argmax(np.flip(data, axis), axis=axis)
        else:
            index = np.argmax(data, axis=axis)
        if keepdims:
            index = np.expand_dims(index, axis)
        return (index.astype(np.int64),)
