import numpy as np

from nnc.runtime.interpreter.kernel import Kernel
from nnc.runtime.interpreter.registry import register


@register("Sub")
class Sub(Kernel):
    """a - b, with broadcasting."""

    def run(self, a, b):
        return (np.subtract(a, b),)
