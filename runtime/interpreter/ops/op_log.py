import numpy as np

from nnc.runtime.interpreter.kernel import Kernel
from nnc.runtime.interpreter.registry import register


@register("Log")
class Log(Kernel):
    """Elementwise natural logarithm."""

    def run(self, x):
        return (np.log(x),)
