import numpy as np

from nnc.runtime.interpreter.kernel import Kernel
from nnc.runtime.interpreter.registry import register


@register("Div")
class Div(Kernel):
    """a / b with broadcasting; integer division truncates toward zero, as in C."""

    def run(self, a, b):
        if a.dtype.kind in "iu":
            quotient = np.floor_divide(a, b)
            inexact = (np.remainder(a, b) != 0) & ((a < 0) != (b < 0))
            return (quotient + inexact.astype(quotient.dtype),)
        return (np.divide(a, b),)
