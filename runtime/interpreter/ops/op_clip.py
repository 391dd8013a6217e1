import numpy as np

from nnc.runtime.interpreter.kernel import Kernel
from nnc.runtime.interpreter.registry import register


@register("Clip")
class Clip(Kernel):
    """Limits values to [min, max] (attributes before opset 11, optional inputs after)."""

    def run(self, x, min=None, max=None):
        if min is not None:
            x = np.maximum(x, np.asarray(min, dtype=x.dtype))
        if max is not None:
            x = np.minimum(x, np.asarray(max, dtype=x.dtype))
        return (x,)
