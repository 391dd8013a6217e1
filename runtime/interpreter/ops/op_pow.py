import numpy as np

from nnc.runtime.interpreter.kernel import Kernel
from nnc.runtime.interpreter.registry import register


@register("Pow")
class Pow(Kernel):
    """a ** b with broadcasting; the result has the dtype of a."""

    def run(self, a, b):
        if a.dtype.kind in "iu":
            return (np.power(a.astype(np.float64), b).astype(a.dtype),)
        return (np.power(a, b.astype(a.dtype, copy=False)),)
