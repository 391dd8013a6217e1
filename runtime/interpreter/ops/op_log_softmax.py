from nnc.runtime.interpreter.kernel import Kernel
from nnc.runtime.interpreter.registry import register
from nnc.runtime.interpreter.softmax import along, log_softmax


@register("LogSoftmax")
class LogSoftmax(Kernel):
    """log(softmax(x)) along an axis (flattened to 2-D before opset 13)."""

    def run(self, x, *, axis=None):
        return (along(log_softmax, x, axis, self.opset),)
