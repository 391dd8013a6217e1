import numpy as np

from nnc.runtime.interpreter.kernel import Kernel, int_list, normalize_axis
from nnc.runtime.interpreter.registry import register

_MODES = {"constant": "constant", "reflect": "reflect", "edge": "edge", "wrap": "wrap"}


@register("Pad")
class Pad(Kernel):
    """Pads (negative: crops) each axis with a constant, a reflection, the edge, or a wrap."""

    def run(self, data, pads=None, constant_value=None, axes=None, *, mode="constant", value=0.0):
        if mode not in _MODES:
            raise ValueError(f"unknown Pad mode {mode!r}")
        pads = int_list(pads)
        axes = list(range(data.ndim)) if axes is None else int_list(axes)
        axes = [normalize_axis(a, data.ndim) for a in axes]
        if len(pads) != 2 * len(axes):
            raise ValueError(f"pads has {len(pads)} entries for {len(axes)} axes")
        widths = [[0, 0] for _ in range(data.ndim)]
        for i, axis in enumerate(axes):
            widths[axis] = [pads[i], pads[i + len(axes)]]
        crop = tuple(
            slice(max(-begin, 0), length - max(-end, 0))
            for (begin, end), length in zip(widths, data.shape, strict=False)
        )
        data = data[crop]
        widths = [(max(begin, 0), max(end, 0)) for begin, end in widths]
        if mode != "constant":
            return (np.pad(data, widths, mode=_MODES[mode]),)
        fill = value if constant_value is None else np.asarray(constant_value).reshape(-1)[0]
        return (np.pad(data, widths, mode="constant", constant_values=fill),)
