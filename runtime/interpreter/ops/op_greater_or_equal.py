import numpy as np

from nnc.runtime.interpreter.kernel import Kernel
from nnc.runtime.interpreter.registry import register


@register("GreaterOrEqual")
class GreaterOrEqual(Kernel):
    """a >= b, with broadcasting."""

    def run(self, a, b):
        return (np.greater_equal(a, b),)
