import numpy as np

from nnc.runtime.interpreter.kernel import Kernel
from nnc.runtime.interpreter.registry import register


@register("LRN")
class LRN(Kernel):
    """Local response normalization across channels (axis 1) in a window of `size`."""

    def run(self, x, *, size, alpha=0.0001, beta=0.75, bias=1.0):
        before = (size - 1) // 2
        after = size - 1 - before
        widths = [(0, 0), (before, after)] + [(0, 0)] * (x.ndim - 2)
        squares = np.pad(x * x, widths)
        channels = x.shape[1]
        total = sum(squares[:, i : i + channels] for i in range(size))
        return (x / (bias + (alpha / size) * total) ** beta,)
