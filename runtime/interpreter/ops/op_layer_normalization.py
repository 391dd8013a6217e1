import numpy as np

from nnc.runtime.interpreter.dtypes import numpy_dtype
from nnc.runtime.interpreter.kernel import Kernel, normalize_axis
from nnc.runtime.interpreter.registry import register


@register("LayerNormalization")
class LayerNormalization(Kernel):
    """Normalizes over the axes from `axis` on; also returns the mean and 1 / std."""

    def run(self, x, scale, bias=None, *, axis=-1, epsilon=1e-5, stash_type=1):
        axis = normalize_axis(axis, x.ndim)
        axes = tuple(range(axis, x.ndim))
        # The statistics are computed in the stash type (float32) or wider: float64 input stays
        # float64 for gradient checks. Mean and InvStdDev are returned in the stash type.
        stash = numpy_dtype(stash_type)
        work = np.promote_types(stash, x.dtype)
        xw = x.astype(work)
        mean = np.mean(xw, axis=axes, keepdims=True)
        inv_std = 1 / np.sqrt(np.mean(np.square(xw - mean), axis=axes, keepdims=True) + epsilon)
        y = ((xw - mean) * inv_std).astype(x.dtype) * scale
        if bias is not None:
            y = y + bias
        return (y.astype(x.dtype, copy=False), mean.astype(stash), inv_std.astype(stash))
