import numpy as np

from nnc.runtime.interpreter.kernel import Kernel
from nnc.runtime.interpreter.registry import register


@register("If")
class If(Kernel):
    """Runs `then_branch` if the one-element condition is true, else `else_branch`."""

    def run(self, cond, *, then_branch, else_branch):
        if np.size(cond) != 1:
            raise ValueError(f"the condition must have one element, got shape {np.shape(cond)}")
        branch = then_branch if bool(np.asarray(cond).reshape(-1)[0]) else else_branch
        outputs = branch()
        if len(outputs) != self.n_outputs:
            raise ValueError(f"the branch has {len(outputs)} outputs, the node {self.n_outputs}")
        return tuple(outputs)
