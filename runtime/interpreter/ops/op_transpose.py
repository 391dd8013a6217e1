import numpy as np

from nnc.runtime.interpreter.kernel import Kernel, int_list
from nnc.runtime.interpreter.registry import register


@register("Transpose")
class Transpose(Kernel):
    """Permutes the axes (reverses them by default)."""

    def run(self, data, *, perm=None):
        return (np.transpose(data, None if perm is None else int_list(perm)),)
