from nnc.runtime.interpreter.kernel import Kernel
from nnc.runtime.interpreter.registry import register


@register("SpaceToDepth")
class SpaceToDepth(Kernel):
    """Moves spatial blocks into channels (DCR or CRD order)."""

    def run(self, x, *, blocksize, mode="DCR"):
        n, c, h, w = x.shape
        b = blocksize
        blocks = x.reshape(n, c, h // b, b, w // b, b)
        if mode == "DCR":
            tmp = blocks.transpose(0, 3, 5, 1, 2, 4)
        elif mode == "CRD":
            tmp = blocks.transpose(0, 1, 3, 5, 2, 4)
        else:
            raise ValueError(f"unknown mode {mode!r}")
        return (tmp.reshape(n, c * b * b, h // b, w // b),)
