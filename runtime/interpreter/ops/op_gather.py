import numpy as np

from nnc.runtime.interpreter.kernel import Kernel, normalize_axis
from nnc.runtime.interpreter.registry import register


@register("Gather")
class Gather(Kernel):
    """Takes entries along an axis at the given (possibly negative) indices."""

    def run(self, data, indices, *, axis=0):
        return (np.take(data, indices.astype(np.int64), axis=normalize_axis(axis, data.ndim)),)
