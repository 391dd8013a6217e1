import numpy as np

from nnc.runtime.interpreter.kernel import Kernel
from nnc.runtime.interpreter.registry import register

_SIXTH = float(np.float32(1 / 6))


@register("HardSwish")
class HardSwish(Kernel):
    """x * max(0, min(1, x / 6 + 1 / 2))."""

    def run(self, x):
        # ONNX defines HardSwish as HardSigmoid with the float attribute alpha = 1/6, so the
        # slope is 1/6 rounded to float32 (as in ONNX Runtime), even for float64 inputs.
        return (x * np.clip(x * _SIXTH + 0.5, 0, 1),)
