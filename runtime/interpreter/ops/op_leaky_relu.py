import numpy as np

from nnc.runtime.interpreter.kernel import Kernel
from nnc.runtime.interpreter.registry import register


@register("LeakyRelu")
class LeakyRelu(Kernel):
    """x for x >= 0, alpha * x otherwise."""

    def run(self, x, *, alpha=0.01):
        return (np.where(x >= 0, x, alpha * x),)
