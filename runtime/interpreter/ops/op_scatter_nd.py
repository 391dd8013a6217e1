import numpy as np

from nnc.runtime.interpreter.kernel import Kernel
from nnc.runtime.interpreter.registry import register

_REDUCERS = {"add": np.add, "mul": np.multiply, "max": np.maximum, "min": np.minimum}


@register("ScatterND")
class ScatterND(Kernel):
    """A copy of data with slices at index tuples replaced by (or reduced with) updates."""

    def run(self, data, indices, updates, *, reduction="none"):
        depth = indices.shape[-1]
        where = indices.reshape(-1, depth).astype(np.int64)
        where = np.where(where < 0, where + np.array(data.shape[:depth]), where)
        updates = updates.reshape((where.shape[0],) + data.shape[depth:])
        out = data.copy()
        if reduction == "none":
            out[tuple(where.T)] = updates
        elif reduction in _REDUCERS:
            _REDUCERS[reduction].at(out, tuple(where.T), updates)
        else:
            raise ValueError(f"unknown reduction {reduction!r}")
        return (out,)
