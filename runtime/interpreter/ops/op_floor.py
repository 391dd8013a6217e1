import numpy as np

from nnc.runtime.interpreter.kernel import Kernel
from nnc.runtime.interpreter.registry import register


@register("Floor")
class Floor(Kernel):
    """Elementwise floor."""

    def run(self, x):
        return (np.floor(x),)
