import numpy as np

from nnc.runtime.interpreter.kernel import Kernel
from nnc.runtime.interpreter.registry import register


@register("Dropout")
class Dropout(Kernel):
    """Identity in inference; in training zeroes entries with probability `ratio`, scales the rest.

    Each node has its own generator, seeded by `seed` when given: successive runs draw new
    masks, as ONNX Runtime does. The optional second output is the keep mask.
    """

    def __init__(self, node, opset):
        super().__init__(node, opset)
        seed = next((a.i for a in node.attribute if a.name == "seed"), None)
        self.rng = np.random.default_rng(seed)

    def run(self, data, ratio=None, training_mode=None, *, seed=None, is_test=0):
        ratio = 0.5 if ratio is None else float(np.asarray(ratio).reshape(-1)[0])
        training = training_mode is not None and bool(np.asarray(training_mode).reshape(-1)[0])
        mask_dtype = np.bool_ if self.opset >= 10 else data.dtype
        if not training or ratio == 0.0:
            return (data, np.ones(data.shape, dtype=mask_dtype))
        keep = self.rng.random(data.shape) >= ratio
        out = np.where(keep, data * (1.0 / (1.0 - ratio)) if ratio < 1.0 else 0, 0)
        return (out.astype(data.dtype, copy=False), keep.astype(mask_dtype))
