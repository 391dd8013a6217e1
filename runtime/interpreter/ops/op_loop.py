import numpy as np

from nnc.runtime.interpreter.errors import InterpreterError
from nnc.runtime.interpreter.kernel import Kernel
from nnc.runtime.interpreter.registry import register
from nnc.runtime.interpreter.subgraphs import stack


def _scalar(value, name):
    if np.size(value) != 1:
        raise ValueError(f"{name} must have one element, got shape {np.shape(value)}")
    return np.asarray(value).reshape(-1)[0]


@register("Loop")
class Loop(Kernel):
    """Runs `body` while the trip count M is not reached and the condition holds.

    The body takes (iteration number, condition, loop-carried values...) and returns
    (condition, loop-carried values..., scan outputs...); the node returns the final carried
    values and each scan output stacked over the iterations on a new first axis. An omitted M
    does not limit the loop; with the condition input omitted, the spec ignores the condition
    the body returns (M alone ends the loop).
    """

    def run(self, max_trip_count=None, cond=None, *carried, body):
        n_carried = len(carried)
        n_scan = len(body.output_names) - 1 - n_carried
        if len(body.input_names) != 2 + n_carried or n_scan < 0:
            raise ValueError(
                f"the body has {len(body.input_names)} inputs and {len(body.output_names)} "
                f"outputs; with {n_carried} loop-carried values it needs {2 + n_carried} inputs "
                f"and at least {1 + n_carried} outputs"
            )
        if self.n_outputs > n_carried + n_scan:
            raise ValueError(f"the node has {self.n_outputs} outputs, the body makes fewer")
        trips = None if max_trip_count is None else int(_scalar(max_trip_count, "M"))
        keep_going = np.asarray(True) if cond is None else np.asarray(cond)
        values = list(carried)
        scanned: list[list[np.ndarray]] = [[] for _ in range(n_scan)]
        iteration = 0
        while (trips is None or iteration < trips) and bool(_scalar(keep_going, "the condition")):
            try:
                outputs = body(np.array(iteration, dtype=np.int64), keep_going, *values)
            except InterpreterError as exc:
                raise InterpreterError(f"iteration {iteration}: {exc}") from exc
            if cond is not None:
                keep_going = np.asarray(outputs[0])
            values = outputs[1 : 1 + n_carried]
            for store, value in zip(scanned, outputs[1 + n_carried :], strict=True):
                store.append(value)
            iteration += 1
        types = body.output_types[1 + n_carried :]
        return (
            *values,
            *(stack(store, declared) for store, declared in zip(scanned, types, strict=True)),
        )
