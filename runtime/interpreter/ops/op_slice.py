from nnc.runtime.interpreter.kernel import Kernel, int_list, normalize_axis
from nnc.runtime.interpreter.registry import register


def _bounds(start: int, end: int, step: int, length: int) -> slice:
    """ONNX start/end (negative from the end, clamped) as a Python slice."""
    if step == 0:
        raise ValueError("Slice step cannot be 0")
    start = start + length if start < 0 else start
    end = end + length if end < 0 else end
    if step > 0:
        return slice(min(max(start, 0), length), min(max(end, 0), length), step)
    start = min(max(start, 0), length - 1)
    end = min(max(end, -1), length - 1)
    return slice(start, None if end < 0 else end, step)


@register("Slice")
class Slice(Kernel):
    """Strided slices along some axes (attributes before opset 10, inputs after)."""

    def run(self, data, starts=None, ends=None, axes=None, steps=None):
        starts, ends = int_list(starts), int_list(ends)
        axes = list(range(len(starts))) if axes is None else int_list(axes)
        steps = [1] * len(starts) if steps is None else int_list(steps)
        index = [slice(None)] * data.ndim
        for start, end, axis, step in zip(starts, ends, axes, steps, strict=False):
            axis = normalize_axis(axis, data.ndim)
            index[axis] = _bounds(start, end, step, data.shape[axis])
        return (data[tuple(index)],)
