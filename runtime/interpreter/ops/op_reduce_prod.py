import numpy as np

from nnc.runtime.interpreter.reduce import Reduce
from nnc.runtime.interpreter.registry import register


@register("ReduceProd")
class ReduceProd(Reduce):
    """Product over the chosen axes."""

    def reduce(self, data, axes, keepdims):
        return np.prod(data, axis=axes, keepdims=keepdims, dtype=data.dtype)
