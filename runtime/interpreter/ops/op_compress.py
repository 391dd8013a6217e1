import numpy as np

from nnc.runtime.interpreter.kernel import Kernel, normalize_axis
from nnc.runtime.interpreter.registry import register


@register("Compress")
class Compress(Kernel):
    """The slices along an axis (of the flattened input by default) where condition holds."""

    def run(self, x, condition, *, axis=None):
        if axis is not None:
            axis = normalize_axis(axis, x.ndim)
        return (np.compress(np.asarray(condition, dtype=bool), x, axis=axis),)
