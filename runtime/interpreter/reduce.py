"""The shared shape of the Reduce* kernels: axes as attribute or input, keepdims, noop."""

from __future__ import annotations

import numpy as np

from nnc.runtime.interpreter.kernel import Kernel, int_list, normalize_axis


class Reduce(Kernel):
    """Base of the Reduce* ops; a subclass defines `reduce(data, axes, keepdims)`.

    `axes` is an attribute in old opsets and an input in new ones (ReduceSum from 13, the others
    from 18); either reaches the one parameter. Empty or absent axes reduce over all axes, or
    over none when noop_with_empty_axes is set (the elementwise part still applies, so
    ReduceSumSquare squares).
    """

    def run(self, data, axes=None, *, keepdims=1, noop_with_empty_axes=0):
        if axes is None or np.size(axes) == 0:
            chosen = () if noop_with_empty_axes else tuple(range(data.ndim))
        else:
            chosen = tuple(sorted({normalize_axis(a, data.ndim) for a in int_list(axes)}))
        result = self.reduce(data, chosen, bool(keepdims))
        return (np.asarray(result).astype(data.dtype, copy=False),)

    def reduce(self, data: np.ndarray, axes: tuple[int, ...], keepdims: bool) -> np.ndarray:
        raise NotImplementedError
