from nnc.runtime.interpreter.kernel import Kernel
from nnc.runtime.interpreter.registry import register
from nnc.runtime.interpreter.softmax import along, softmax


@register("Softmax")
class Softmax(Kernel):
    """exp(x) / sum(exp(x)) along an axis (flattened to 2-D before opset 13)."""

    def run(self, x, *, axis=None):
        return (along(softmax, x, axis, self.opset),)
