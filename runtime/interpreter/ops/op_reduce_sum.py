import numpy as np

from nnc.runtime.interpreter.reduce import Reduce
from nnc.runtime.interpreter.registry import register


@register("ReduceSum")
class ReduceSum(Reduce):
    """Sum over the chosen axes."""

    def reduce(self, data, axes, keepdims):
        return np.sum(data, axis=axes, keepdims=keepdims, dtype=data.dtype)
