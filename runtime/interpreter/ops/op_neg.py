import numpy as np

from nnc.runtime.interpreter.kernel import Kernel
from nnc.runtime.interpreter.registry import register


@register("Neg")
class Neg(Kernel):
    """Elementwise negation."""

    def run(self, x):
        return (np.negative(x),)
