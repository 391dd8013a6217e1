from nnc.runtime.interpreter.kernel import Kernel
from nnc.runtime.interpreter.registry import register


@register("DepthToSpace")
class DepthToSpace(Kernel):
    """Moves channel blocks into spatial blocks (DCR or CRD order)."""

    def run(self, x, *, blocksize, mode="DCR"):
        n, c, h, w = x.shape
        b = blocksize
        if mode == "DCR":
            tmp = x.reshape(n, b, b, c // (b * b), h, w).transpose(0, 3, 4, 1, 5, 2)
        elif mode == "CRD":
            tmp = x.reshape(n, c // (b * b), b, b, h, w).transpose(0, 1, 4, 2, 5, 3)
        else:
            raise ValueError(f"unknown mode {mode!r}")
        return (tmp.reshape(n, c // (b * b), h * b, w * b),)
