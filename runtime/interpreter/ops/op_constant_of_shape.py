import numpy as np

from nnc.runtime.interpreter.kernel import Kernel, int_list
from nnc.runtime.interpreter.registry import register


@register("ConstantOfShape")
class ConstantOfShape(Kernel):
    """A tensor of the given shape filled with one value (float32 zero by default)."""

    def run(self, shape, *, value=None):
        fill = np.zeros(1, dtype=np.float32) if value is None else np.asarray(value)
        return (np.full(int_list(shape), fill.reshape(-1)[0], dtype=fill.dtype),)
