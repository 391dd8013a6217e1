import numpy as np

from nnc.runtime.interpreter.kernel import Kernel, int_list
from nnc.runtime.interpreter.registry import register


@register("Reshape")
class Reshape(Kernel):
    """A new shape for the same data: 0 copies the input dim (unless allowzero), -1 is inferred."""

    def run(self, data, shape=None, *, allowzero=0):
        dims = int_list(shape)
        if not allowzero:
            dims = [data.shape[i] if d == 0 else d for i, d in enumerate(dims)]
        return (np.reshape(data, dims),)
