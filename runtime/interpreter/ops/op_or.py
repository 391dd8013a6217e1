import numpy as np

from nnc.runtime.interpreter.kernel import Kernel
from nnc.runtime.interpreter.registry import register


@register("Or")
class Or(Kernel):
    """Logical or, with broadcasting."""

    def run(self, a, b):
        return (np.logical_or(a, b),)
