import functools

import numpy as np

from nnc.runtime.interpreter.kernel import Kernel
from nnc.runtime.interpreter.registry import register


@register("Min")
class Min(Kernel):
    """Elementwise minimum of any number of inputs, with broadcasting."""

    def run(self, *inputs):
        result = functools.reduce(np.minimum, inputs)
        return (np.asarray(result),)
