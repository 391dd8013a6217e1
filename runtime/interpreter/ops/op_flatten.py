import math

import numpy as np

from nnc.runtime.interpreter.kernel import Kernel
from nnc.runtime.interpreter.registry import register


@register("Flatten")
class Flatten(Kernel):
    """A 2-D view: the axes before `axis` form the rows, the rest the columns."""

    def run(self, x, *, axis=1):
        axis = axis + x.ndim if axis < 0 else axis
        if not 0 <= axis <= x.ndim:
            raise ValueError(f"axis {axis} is out of range for rank {x.ndim}")
        rows = math.prod(x.shape[:axis])
        return (np.reshape(x, (rows, math.prod(x.shape[axis:]))),)
