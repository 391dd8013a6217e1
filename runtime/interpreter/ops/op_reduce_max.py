import numpy as np

from nnc.runtime.interpreter.kernel import lowest
from nnc.runtime.interpreter.reduce import Reduce
from nnc.runtime.interpreter.registry import register


@register("ReduceMax")
class ReduceMax(Reduce):
    """Maximum over the chosen axes (the dtype's lowest over an empty set)."""

    def reduce(self, data, axes, keepdims):
        return np.max(data, axis=axes, keepdims=keepdims, initial=lowest(data.dtype))
