import numpy as np

from nnc.runtime.interpreter.kernel import Kernel
from nnc.runtime.interpreter.registry import register


@register("Reciprocal")
class Reciprocal(Kernel):
    """Elementwise 1 / x."""

    def run(self, x):
        return (np.reciprocal(x),)
