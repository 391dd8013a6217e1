import numpy as np

from nnc.runtime.interpreter.kernel import Kernel
from nnc.runtime.interpreter.registry import register


@register("LpNormalization")
class LpNormalization(Kernel):
    """x divided by its L1 or L2 norm along an axis (0 where the norm is 0)."""

    def run(self, x, *, axis=-1, p=2):
        if p == 1:
            norm = np.sum(np.abs(x), axis=axis, keepdims=True)
        elif p == 2:
            norm = np.sqrt(np.sum(x * x, axis=axis, keepdims=True))
        else:
            raise ValueError(f"p must be 1 or 2, got {p}")
        return (np.where(norm == 0, 0, x / np.where(norm == 0, 1, norm)).astype(x.dtype),)
