import numpy as np

from nnc.runtime.interpreter.kernel import Kernel, int_list
from nnc.runtime.interpreter.registry import register


@register("Expand")
class Expand(Kernel):
    """Broadcasts the input against a shape (bidirectionally: either side may be 1)."""

    def run(self, x, shape):
        return (np.broadcast_to(x, np.broadcast_shapes(x.shape, tuple(int_list(shape)))),)
