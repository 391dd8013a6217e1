import numpy as np

from nnc.runtime.interpreter.kernel import Kernel, normalize_axis
from nnc.runtime.interpreter.registry import register


@register("CumSum")
class CumSum(Kernel):
    """Cumulative sum along an axis, optionally exclusive and/or reversed."""

    def run(self, x, axis, *, exclusive=0, reverse=0):
        axis = normalize_axis(int(np.asarray(axis).reshape(-1)[0]), x.ndim)
        if reverse:
            x = np.flip(x, axis)
        out = np.cumsum(x, axis=axis, dtype=x.dtype)
        if exclusive:
            head = np.zeros_like(np.take(out, [0], axis=axis))
            out = np.concatenate([head, np.take(out, range(x.shape[axis] - 1), axis=axis)], axis)
        if reverse:
            out = np.flip(out, axis)
        return (out,)
