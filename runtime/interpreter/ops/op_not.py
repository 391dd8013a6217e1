import numpy as np

from nnc.runtime.interpreter.kernel import Kernel
from nnc.runtime.interpreter.registry import register


@register("Not")
class Not(Kernel):
    """Elementwise logical not."""

    def run(self, x):
        return (np.logical_not(x),)
