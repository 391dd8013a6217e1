import numpy as np

from nnc.runtime.interpreter.kernel import Kernel
from nnc.runtime.interpreter.registry import register


@register("Gemm")
class Gemm(Kernel):
    """alpha * op(A) @ op(B) + beta * C, op being an optional transpose."""

    def run(self, a, b, c=None, *, alpha=1.0, beta=1.0, transA=0, transB=0, broadcast=0):
        y = np.matmul(a.T if transA else a, b.T if transB else b)
        if alpha != 1.0:
            y = y * alpha
        if c is not None and beta != 0.0:
            y = y + (c if beta == 1.0 else c * beta)
        return (y.astype(a.dtype, copy=False),)
