import numpy as np

from nnc.runtime.interpreter.kernel import Kernel, normalize_axis
from nnc.runtime.interpreter.registry import register


@register("Concat")
class Concat(Kernel):
    """Joins the inputs along an axis (default 1 before opset 4, required after)."""

    def run(self, *inputs, axis=None):
        if axis is None:
            if self.opset >= 4:
                raise ValueError("Concat needs an axis attribute")
            axis = 1
        return (np.concatenate(inputs, axis=normalize_axis(axis, inputs[0].ndim)),)
