import numpy as np

from nnc.runtime.interpreter.kernel import Kernel, normalize_axis
from nnc.runtime.interpreter.registry import register


@register("TopK")
class TopK(Kernel):
    """The k largest (or smallest) entries along an axis and their int64 indices."""

    def run(self, x, K=None, *, axis=-1, largest=1, sorted=1, k=None):
        count = int(np.asarray(K if K is not None else k).reshape(-1)[0])
        axis = normalize_axis(axis, x.ndim)
        # A stable sort keeps the lower index first among equal values.
        if largest:
            key = x.max() - x if x.dtype.kind == "u" and x.size else -x
        else:
            key = x
        order = np.argsort(key, axis=axis, kind="stable")
        indices = np.take(order, np.arange(count), axis=axis)
        return (np.take_along_axis(x, indices, axis=axis), indices.astype(np.int64))
