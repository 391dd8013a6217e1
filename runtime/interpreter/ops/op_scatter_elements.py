import numpy as np

from nnc.runtime.interpreter.kernel import Kernel, normalize_axis
from nnc.runtime.interpreter.registry import register

_REDUCERS = {"add": np.add, "mul": np.multiply, "max": np.maximum, "min": np.minimum}


@register("ScatterElements")
class ScatterElements(Kernel):
    """A copy of data with updates written (or reduced) at indices along `axis`."""

    def run(self, data, indices, updates, *, axis=0, reduction="none"):
        axis = normalize_axis(axis, data.ndim)
        indices = indices.astype(np.int64)
        indices = np.where(indices < 0, indices + data.shape[axis], indices)
        where = list(np.indices(indices.shape, sparse=True))
        where[axis] = indices
        out = data.copy()
        if reduction == "none":
            out[tuple(where)] = updates
        elif reduction in _REDUCERS:
            _REDUCERS[reduction].at(out, tuple(where), updates)
        else:
            raise ValueError(f"unknown reduction {reduction!r}")
        return (out,)
