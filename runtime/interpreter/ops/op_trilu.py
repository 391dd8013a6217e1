import numpy as np

from nnc.runtime.interpreter.kernel import Kernel
from nnc.runtime.interpreter.registry import register


@register("Trilu")
class Trilu(Kernel):
    """The upper (or lower) triangle of the last two axes, above diagonal k."""

    def run(self, x, k=None, *, upper=1):
        k = 0 if k is None else int(np.asarray(k).reshape(-1)[0])
        return (np.triu(x, k) if upper else np.tril(x, k),)
