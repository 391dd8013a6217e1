import numpy as np

from nnc.runtime.interpreter.kernel import Kernel
from nnc.runtime.interpreter.registry import register


@register("Tan")
class Tan(Kernel):
    """Elementwise tangent."""

    def run(self, x):
        return (np.tan(x),)
