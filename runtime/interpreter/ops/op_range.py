import numpy as np

from nnc.runtime.interpreter.kernel import Kernel
from nnc.runtime.interpreter.registry import register


@register("Range")
class Range(Kernel):
    """start, start + delta, ... up to (excluding) limit, in the dtype of start."""

    def run(self, start, limit, delta):
        start, limit, delta = (np.asarray(v).reshape(()) for v in (start, limit, delta))
        count = max(int(np.ceil((limit - start) / delta)), 0)
        return ((start + np.arange(count, dtype=start.dtype) * delta).astype(start.dtype),)
