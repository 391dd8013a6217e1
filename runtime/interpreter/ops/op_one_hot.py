import numpy as np

from nnc.runtime.interpreter.kernel import Kernel, normalize_axis
from nnc.runtime.interpreter.registry import register


@register("OneHot")
class OneHot(Kernel):
    """values[1] where the new axis equals the index (negative: from depth), values[0] elsewhere."""

    def run(self, indices, depth, values, *, axis=-1):
        depth = int(np.asarray(depth).reshape(-1)[0])
        indices = np.asarray(indices).astype(np.int64)
        indices = np.where(indices < 0, indices + depth, indices)
        hot = indices[..., None] == np.arange(depth)
        hot = np.moveaxis(hot, -1, normalize_axis(axis, indices.ndim + 1))
        off, on = np.asarray(values).reshape(-1)[:2]
        return (np.where(hot, on, off).astype(values.dtype),)
