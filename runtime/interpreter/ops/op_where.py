import numpy as np

from nnc.runtime.interpreter.kernel import Kernel
from nnc.runtime.interpreter.registry import register


@register("Where")
class Where(Kernel):
    """Elementwise choice between x and y by condition, with broadcasting."""

    def run(self, condition, x, y):
        return (np.where(condition, x, y),)
