import numpy as np

from nnc.runtime.interpreter.kernel import Kernel, int_list, normalize_axis
from nnc.runtime.interpreter.registry import register


@register("Unsqueeze")
class Unsqueeze(Kernel):
    """Inserts size-1 axes at the given positions of the output."""

    def run(self, data, axes=None):
        axes = int_list(axes)
        rank = data.ndim + len(axes)
        return (np.expand_dims(data, tuple(normalize_axis(a, rank) for a in axes)),)
