import numpy as np

from nnc.runtime.interpreter.reduce import Reduce
from nnc.runtime.interpreter.registry import register


@register("ReduceLogSumExp")
class ReduceLogSumExp(Reduce):
    """log(sum(exp(x))) over the chosen axes, shifted by the maximum so it cannot overflow."""

    def reduce(self, data, axes, keepdims):
        if data.dtype.kind != "f":
            data = data.astype(np.float64)
        shift = np.max(data, axis=axes, keepdims=True, initial=-np.inf)
        shift = np.where(np.isfinite(shift), shift, 0).astype(data.dtype, copy=False)
        total = np.sum(np.exp(data - shift), axis=axes, keepdims=True)
        result = np.log(total) + shift
        return result if keepdims else np.squeeze(result, axis=axes)
