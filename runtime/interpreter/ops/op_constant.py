import numpy as np

from nnc.runtime.interpreter.kernel import Kernel
from nnc.runtime.interpreter.registry import register


@register("Constant")
class Constant(Kernel):
    """The one value given by whichever value* attribute the node carries."""

    def run(
        self,
        *,
        value=None,
        sparse_value=None,
        value_float=None,
        value_floats=None,
        value_int=None,
        value_ints=None,
        value_string=None,
        value_strings=None,
    ):
        given = {
            "value": value,
            "sparse_value": sparse_value,
            "value_float": None if value_float is None else np.array(value_float, np.float32),
            "value_floats": None if value_floats is None else np.array(value_floats, np.float32),
            "value_int": None if value_int is None else np.array(value_int, np.int64),
            "value_ints": None if value_ints is None else np.array(value_ints, np.int64),
            "value_string": None if value_string is None else np.array(value_string, object),
            "value_strings": None if value_strings is None else np.array(value_strings, object),
        }
        present = [name for name, v in given.items() if v is not None]
        if len(present) != 1:
            raise ValueError(f"Constant needs exactly one value attribute, got {present}")
        return (np.asarray(given[present[0]]),)
