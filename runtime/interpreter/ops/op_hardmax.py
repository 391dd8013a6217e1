import numpy as np

from nnc.runtime.interpreter.kernel import Kernel
from nnc.runtime.interpreter.registry import register
from nnc.runtime.interpreter.softmax import along


def _hardmax(x: np.ndarray, axis: int) -> np.ndarray:
    first = np.expand_dims(np.argmax(x, axis=axis), axis)
    out = np.zeros_like(x)
    np.put_along_axis(out, first, 1, axis=axis)
    return out


@register("Hardmax")
class Hardmax(Kernel):
    """1 at the first maximum along an axis, 0 elsewhere (flattened to 2-D before opset 13)."""

    def run(self, x, *, axis=None):
        return (along(_hardmax, x, axis, self.opset),)
