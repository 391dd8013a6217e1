import math

import numpy as np

from nnc.runtime.interpreter.kernel import Kernel
from nnc.runtime.interpreter.registry import register


@register("GatherND")
class GatherND(Kernel):
    """Gathers slices of data at index tuples, after batch_dims shared leading axes."""

    def run(self, data, indices, *, batch_dims=0):
        b = batch_dims
        depth = indices.shape[-1]
        batch = math.prod(data.shape[:b])
        flat_data = data.reshape((batch,) + data.shape[b:])
        where = indices.reshape(batch, -1, depth).astype(np.int64)
        where = np.where(where < 0, where + np.array(data.shape[b : b + depth]), where)
        rows = np.arange(batch)[:, None]
        picked = flat_data[(rows, *np.moveaxis(where, -1, 0))]
        shape = indices.shape[:-1] + data.shape[b + depth :]
        return (picked.reshape(shape),)
