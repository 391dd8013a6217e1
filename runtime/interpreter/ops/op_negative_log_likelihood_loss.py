from nnc.runtime.interpreter.kernel import Kernel
from nnc.runtime.interpreter.losses import negative_log_likelihood
from nnc.runtime.interpreter.registry import register


@register("NegativeLogLikelihoodLoss")
class NegativeLogLikelihoodLoss(Kernel):
    """-input[n, target[n]] (times the class weight), reduced by none, sum or weighted mean."""

    def run(self, input, target, weight=None, *, ignore_index=None, reduction="mean"):
        return (negative_log_likelihood(input, target, weight, ignore_index, reduction),)
