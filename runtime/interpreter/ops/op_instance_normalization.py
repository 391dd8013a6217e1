import numpy as np

from nnc.runtime.interpreter.kernel import Kernel
from nnc.runtime.interpreter.registry import register


@register("InstanceNormalization")
class InstanceNormalization(Kernel):
    """Normalizes each instance and channel over its spatial axes."""

    def run(self, x, scale, bias, *, epsilon=1e-5):
        axes = tuple(range(2, x.ndim))
        mean = np.mean(x, axis=axes, keepdims=True)
        var = np.mean(np.square(x - mean), axis=axes, keepdims=True)
        channel = (1, -1) + (1,) * (x.ndim - 2)
        y = (x - mean) / np.sqrt(var + epsilon) * scale.reshape(channel) + bias.reshape(channel)
        return (y.astype(x.dtype, copy=False),)
