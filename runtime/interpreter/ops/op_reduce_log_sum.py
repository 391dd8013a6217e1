import numpy as np

from nnc.runtime.interpreter.reduce import Reduce
from nnc.runtime.interpreter.registry import register


@register("ReduceLogSum")
class ReduceLogSum(Reduce):
    """Log of the sum over the chosen axes."""

    def reduce(self, data, axes, keepdims):
        return np.log(np.sum(data, axis=axes, keepdims=keepdims, dtype=data.dtype))
