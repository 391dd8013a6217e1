import numpy as np

from nnc.runtime.interpreter.kernel import Kernel
from nnc.runtime.interpreter.registry import register


@register("BatchNormalization")
class BatchNormalization(Kernel):
    """Normalizes per channel (axis 1) with running statistics, or batch ones in training.

    In training mode (training_mode=1 from opset 14; extra outputs before) the outputs are
    Y, running_mean and running_var, the running statistics updated with `momentum` from the
    batch mean and (population) variance.
    """

    def run(
        self,
        x,
        scale,
        bias,
        input_mean,
        input_var,
        *,
        epsilon=1e-5,
        momentum=0.9,
        training_mode=0,
        spatial=1,
        is_test=0,
        consumed_inputs=None,
    ):
        if not spatial:
            raise ValueError("BatchNormalization with spatial=0 is not supported")
        training = bool(training_mode) if self.opset >= 14 else self.n_outputs > 1
        channel = (1, -1) + (1,) * (x.ndim - 2)
        scale, bias = (np.reshape(p, channel).astype(x.dtype) for p in (scale, bias))
        if not training:
            mean, var = (np.reshape(p, channel).astype(x.dtype) for p in (input_mean, input_var))
            return ((x - mean) / np.sqrt(var + epsilon) * scale + bias,)
        axes = (0,) + tuple(range(2, x.ndim))
        mean = np.mean(x, axis=axes, keepdims=True)
        var = np.mean(np.square(x - mean), axis=axes, keepdims=True)
        y = (x - mean) / np.sqrt(var + epsilon) * scale + bias
        mean, var = mean.reshape(-1), var.reshape(-1)
        stat = input_mean.dtype
        running_mean = (input_mean * momentum + mean * (1 - momentum)).astype(stat)
        running_var = (input_var * momentum + var * (1 - momentum)).astype(stat)
        if self.opset >= 14:
            return (y, running_mean, running_var)
        return (y, running_mean, running_var, mean.astype(stat), var.astype(stat))
