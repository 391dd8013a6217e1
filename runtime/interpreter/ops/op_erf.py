from nnc.runtime.interpreter.kernel import Kernel, erf
from nnc.runtime.interpreter.registry import register


@register("Erf")
class Erf(Kernel):
    """Elementwise error function."""

    def run(self, x):
        return (erf(x),)
