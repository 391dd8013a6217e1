import numpy as np

from nnc.runtime.interpreter.reduce import Reduce
from nnc.runtime.interpreter.registry import register


@register("ReduceSumSquare")
class ReduceSumSquare(Reduce):
    """Sum of squares over the chosen axes."""

    def reduce(self, data, axes, keepdims):
        return np.sum(data * data, axis=axes, keepdims=keepdims, dtype=data.dtype)
