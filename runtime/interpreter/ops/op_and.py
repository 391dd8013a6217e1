import numpy as np

from nnc.runtime.interpreter.kernel import Kernel
from nnc.runtime.interpreter.registry import register


@register("And")
class And(Kernel):
    """Logical and, with broadcasting."""

    def run(self, a, b):
        return (np.logical_and(a, b),)
