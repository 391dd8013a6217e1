import math

import numpy as np

from nnc.runtime.interpreter.kernel import Kernel, int_list, normalize_axis
from nnc.runtime.interpreter.registry import register


@register("Split")
class Split(Kernel):
    """Splits along an axis: by explicit sizes, into num_outputs chunks, or into equal parts."""

    def run(self, x, split=None, *, axis=0, num_outputs=None):
        axis = normalize_axis(axis, x.ndim)
        length = x.shape[axis]
        if split is not None and np.size(split) > 0:
            sizes = int_list(split)
        elif num_outputs is not None:
            chunk = math.ceil(length / num_outputs)
            sizes = [chunk] * (num_outputs - 1) + [length - chunk * (num_outputs - 1)]
        else:
            if length % self.n_outputs:
                raise ValueError(f"cannot split {length} into {self.n_outputs} equal parts")
            sizes = [length // self.n_outputs] * self.n_outputs
        if sum(sizes) != length or any(s < 0 for s in sizes):
            raise ValueError(f"split sizes {sizes} do not add up to the axis length {length}")
        return tuple(np.split(x, np.cumsum(sizes)[:-1], axis=axis))
