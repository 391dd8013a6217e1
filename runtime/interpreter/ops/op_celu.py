import numpy as np

from nnc.runtime.interpreter.kernel import Kernel
from nnc.runtime.interpreter.registry import register


@register("Celu")
class Celu(Kernel):
    """max(0, x) + min(0, alpha * (exp(x / alpha) - 1))."""

    def run(self, x, *, alpha=1.0):
        return (np.maximum(x, 0) + np.minimum(0, alpha * np.expm1(np.minimum(x, 0) / alpha)),)
