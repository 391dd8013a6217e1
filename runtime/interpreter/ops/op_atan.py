import numpy as np

from nnc.runtime.interpreter.kernel import Kernel
from nnc.runtime.interpreter.registry import register


@register("Atan")
class Atan(Kernel):
    """Elementwise arctangent."""

    def run(self, x):
        return (np.arctan(x),)
