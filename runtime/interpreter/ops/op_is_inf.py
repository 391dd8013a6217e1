import numpy as np

from nnc.runtime.interpreter.kernel import Kernel
from nnc.runtime.interpreter.registry import register


@register("IsInf")
class IsInf(Kernel):
    """Elementwise infinity test, for either sign or one of them."""

    def run(self, x, *, detect_negative=1, detect_positive=1):
        inf = np.isinf(x)
        if not detect_negative:
            inf &= x > 0
        if not detect_positive:
            inf &= x < 0
        return (inf,)
