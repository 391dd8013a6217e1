import numpy as np

from nnc.runtime.interpreter.kernel import Kernel, normalize_axis
from nnc.runtime.interpreter.registry import register


@register("GatherElements")
class GatherElements(Kernel):
    """out[i][j][k] = data[indices[i][j][k]][j][k] along `axis` (negative indices allowed)."""

    def run(self, data, indices, *, axis=0):
        axis = normalize_axis(axis, data.ndim)
        indices = indices.astype(np.int64)
        indices = np.where(indices < 0, indices + data.shape[axis], indices)
        return (np.take_along_axis(data, indices, axis=axis),)
