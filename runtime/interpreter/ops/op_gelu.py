import math

import numpy as np

from nnc.runtime.interpreter.kernel import Kernel, erf
from nnc.runtime.interpreter.registry import register


@register("Gelu")
class Gelu(Kernel):
    """x * Phi(x), exactly (erf) or with the tanh approximation."""

    def run(self, x, *, approximate="none"):
        if approximate == "tanh":
            inner = math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)
            return (0.5 * x * (1 + np.tanh(inner)),)
        if approximate != "none":
            raise ValueError(f"unknown approximate={approximate!r}")
        return (0.5 * x * (1 + erf(x * (1 / math.sqrt(2)))),)
