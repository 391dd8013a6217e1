import numpy as np

from nnc.runtime.interpreter.kernel import highest
from nnc.runtime.interpreter.reduce import Reduce
from nnc.runtime.interpreter.registry import register


@register("ReduceMin")
class ReduceMin(Reduce):
    """Minimum over the chosen axes (the dtype's highest over an empty set)."""

    def reduce(self, data, axes, keepdims):
        return np.min(data, axis=axes, keepdims=keepdims, initial=highest(data.dtype))
