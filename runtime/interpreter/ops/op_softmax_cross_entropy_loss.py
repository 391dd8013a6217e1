from nnc.runtime.interpreter.kernel import Kernel
from nnc.runtime.interpreter.losses import negative_log_likelihood
from nnc.runtime.interpreter.registry import register
from nnc.runtime.interpreter.softmax import log_softmax


@register("SoftmaxCrossEntropyLoss")
class SoftmaxCrossEntropyLoss(Kernel):
    """NLL of log_softmax(scores) over axis 1; the second output is that log-probability."""

    def run(self, scores, labels, weights=None, *, ignore_index=None, reduction="mean"):
        log_prob = log_softmax(scores, axis=1)
        loss = negative_log_likelihood(log_prob, labels, weights, ignore_index, reduction)
        return (loss, log_prob)
