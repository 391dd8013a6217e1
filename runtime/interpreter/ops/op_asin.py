import numpy as np

from nnc.runtime.interpreter.kernel import Kernel
from nnc.runtime.interpreter.registry import register


@register("Asin")
class Asin(Kernel):
    """Elementwise arcsine."""

    def run(self, x):
        return (np.arcsin(x),)
