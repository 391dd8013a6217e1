import numpy as np

from nnc.runtime.interpreter.dtypes import numpy_dtype
from nnc.runtime.interpreter.kernel import Kernel
from nnc.runtime.interpreter.registry import register


@register("EyeLike")
class EyeLike(Kernel):
    """A 2-D identity-like matrix (ones on diagonal k) with the input's shape."""

    def run(self, x, *, dtype=None, k=0):
        out_dtype = x.dtype if dtype is None else numpy_dtype(dtype)
        return (np.eye(x.shape[0], x.shape[1], k, dtype=out_dtype),)
