import numpy as np

from nnc.runtime.interpreter.kernel import Kernel
from nnc.runtime.interpreter.registry import register


@register("Mod")
class Mod(Kernel):
    """Remainder with the divisor's sign (fmod=0) or the dividend's (fmod=1)."""

    def run(self, a, b, *, fmod=0):
        return (np.fmod(a, b) if fmod else np.mod(a, b),)
