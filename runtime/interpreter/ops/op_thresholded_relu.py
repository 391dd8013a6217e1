import numpy as np

from nnc.runtime.interpreter.kernel import Kernel
from nnc.runtime.interpreter.registry import register


@register("ThresholdedRelu")
class ThresholdedRelu(Kernel):
    """x where x > alpha, 0 elsewhere."""

    def run(self, x, *, alpha=1.0):
        return (np.where(x > alpha, x, 0).astype(x.dtype, copy=False),)
