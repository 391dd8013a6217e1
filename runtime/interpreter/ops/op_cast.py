from nnc.runtime.interpreter.dtypes import numpy_dtype
from nnc.runtime.interpreter.kernel import Kernel
from nnc.runtime.interpreter.registry import register


@register("Cast")
class Cast(Kernel):
    """Converts to the element type `to` (NumPy conversion rules; floats truncate to ints)."""

    def run(self, x, *, to, saturate=1, round_mode="up"):
        return (x.astype(numpy_dtype(to)),)
