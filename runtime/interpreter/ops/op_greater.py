import numpy as np

from nnc.runtime.interpreter.kernel import Kernel
from nnc.runtime.interpreter.registry import register


@register("Greater")
class Greater(Kernel):
    """a > b, with broadcasting."""

    def run(self, a, b):
        return (np.greater(a, b),)
