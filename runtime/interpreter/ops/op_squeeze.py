import numpy as np

from nnc.runtime.interpreter.kernel import Kernel, int_list, normalize_axis
from nnc.runtime.interpreter.registry import register


@register("Squeeze")
class Squeeze(Kernel):
    """Drops the given size-1 axes (all size-1 axes when none are given)."""

    def run(self, data, axes=None):
        if axes is None:
            return (np.squeeze(data),)
        return (np.squeeze(data, axis=tuple(normalize_axis(a, data.ndim) for a in int_list(axes))),)
