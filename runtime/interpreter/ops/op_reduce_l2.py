import numpy as np

from nnc.runtime.interpreter.reduce import Reduce
from nnc.runtime.interpreter.registry import register


@register("ReduceL2")
class ReduceL2(Reduce):
    """Euclidean norm over the chosen axes."""

    def reduce(self, data, axes, keepdims):
        return np.sqrt(np.sum(data * data, axis=axes, keepdims=keepdims, dtype=data.dtype))
