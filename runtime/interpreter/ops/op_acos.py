import numpy as np

from nnc.runtime.interpreter.kernel import Kernel
from nnc.runtime.interpreter.registry import register


@register("Acos")
class Acos(Kernel):
    """Elementwise arccosine."""

    def run(self, x):
        return (np.arccos(x),)
