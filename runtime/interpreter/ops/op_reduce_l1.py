import numpy as np

from nnc.runtime.interpreter.reduce import Reduce
from nnc.runtime.interpreter.registry import register


@register("ReduceL1")
class ReduceL1(Reduce):
    """Sum of absolute values over the chosen axes."""

    def reduce(self, data, axes, keepdims):
        return np.sum(np.abs(data), axis=axes, keepdims=keepdims, dtype=data.dtype)
