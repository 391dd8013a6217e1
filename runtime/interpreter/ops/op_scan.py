import numpy as np

from nnc.runtime.interpreter.errors import InterpreterError
from nnc.runtime.interpreter.kernel import Kernel, int_list, normalize_axis
from nnc.runtime.interpreter.registry import register
from nnc.runtime.interpreter.subgraphs import stack


def _flags(values, count, name):
    flags = [0] * count if values is None else int_list(values)
    if len(flags) != count:
        raise ValueError(f"{name} has {len(flags)} entries for {count} values")
    return flags


@register("Scan")
class Scan(Kernel):
    """Runs `body` once per position along the scan axis of the scan inputs.

    The inputs are N initial states then M = num_scan_inputs scan inputs; the body maps (states,
    one slice of each scan input) to (new states, one slice of each of K scan outputs), and the
    node returns the final states and the scan outputs. From opset 9 each scan input and output
    has an axis and a direction. Opset 8 has a leading batch axis, scanned per batch entry up to
    its optional `sequence_lens` (scan outputs zero-padded), time on axis 1, and `directions`
    for the inputs only.
    """

    def run(
        self,
        *inputs,
        body,
        num_scan_inputs,
        scan_input_axes=None,
        scan_input_directions=None,
        scan_output_axes=None,
        scan_output_directions=None,
        directions=None,
    ):
        newer = [scan_input_axes, scan_input_directions, scan_output_axes, scan_output_directions]
        if self.opset < 9:
            if any(value is not None for value in newer):
                raise ValueError("the scan_* attributes are from opset 9; opset 8 has directions")
            sequence_lens, *inputs = inputs
            return self._batched(sequence_lens, inputs, body, num_scan_inputs, directions)
        if directions is not None:
            raise ValueError("directions is an opset 8 attribute; use scan_input_directions")
        n_states = len(inputs) - num_scan_inputs
        n_outputs = len(body.output_names) - n_states
        if n_states < 0 or n_outputs < 0:
            raise ValueError(
                f"{len(inputs)} inputs with num_scan_inputs={num_scan_inputs} do not fit a body "
                f"of {len(body.input_names)} inputs and {len(body.output_names)} outputs"
            )
        scans = inputs[n_states:]
        in_axes = [
            normalize_axis(axis, np.ndim(x))
            for axis, x in zip(_flags(scan_input_axes, len(scans), "scan_input_axes"), scans)
        ]
        in_directions = _flags(scan_input_directions, len(scans), "scan_input_directions")
        out_axes = _flags(scan_output_axes, n_outputs, "scan_output_axes")
        out_directions = _flags(scan_output_directions, n_outputs, "scan_output_directions")
        states, scanned = self._scan(
            body, list(inputs[:n_states]), scans, in_axes, in_directions, n_outputs
        )
        outputs = []
        for values, axis, direction in zip(scanned, out_axes, out_directions, strict=True):
            if direction:  # prepended each iteration: the last iteration comes first
                values = values[::-1]
            first = stack(values, body.output_types[n_states + len(outputs)])
            outputs.append(np.moveaxis(first, 0, normalize_axis(axis, first.ndim)))
        return (*states, *outputs)

    @staticmethod
    def _scan(body, states, scans, axes, directions, n_outputs):
        """Final states and, per scan output, the list of per-iteration values."""
        sequences = []
        for x, axis, direction in zip(scans, axes, directions, strict=True):
            x = np.moveaxis(x, axis, 0)
            sequences.append(x[::-1] if direction else x)
        lengths = {len(x) for x in sequences}
        if len(lengths) > 1:
            raise ValueError(f"the scan inputs have different lengths {sorted(lengths)}")
        length = lengths.pop() if lengths else 0
        n_states = len(states)
        scanned: list[list[np.ndarray]] = [[] for _ in range(n_outputs)]
        for t in range(length):
            try:
                outputs = body(*states, *(x[t] for x in sequences))
            except InterpreterError as exc:
                raise InterpreterError(f"iteration {t}: {exc}") from exc
            states = outputs[:n_states]
            for store, value in zip(scanned, outputs[n_states:], strict=True):
                store.append(value)
        return states, scanned

    def _batched(self, sequence_lens, inputs, body, num_scan_inputs, directions):
        """Opset 8: each batch entry scanned on its own, up to its sequence length."""
        n_states = len(inputs) - num_scan_inputs
        states, scans = inputs[:n_states], inputs[n_states:]
        batch = np.shape(inputs[0])[0]
        length = np.shape(scans[0])[1] if scans else 0
        lens = [length] * batch if sequence_lens is None else int_list(sequence_lens)
        in_directions = _flags(directions, len(scans), "directions")
        n_outputs = len(body.output_names) - n_states
        finals: list[list[np.ndarray]] = [[] for _ in range(n_states)]
        padded: list[list[np.ndarray]] = [[] for _ in range(n_outputs)]
        for b in range(batch):
            final, scanned = self._scan(
                body,
                [s[b] for s in states],
                [x[b, : lens[b]] for x in scans],
                [0] * len(scans),
                in_directions,
                n_outputs,
            )
            for store, value in zip(finals, final, strict=True):
                store.append(value)
            for k, values in enumerate(scanned):
                first = stack(values, body.output_types[n_states + k])
                pad = [(0, length - len(first))] + [(0, 0)] * (first.ndim - 1)
                padded[k].append(np.pad(first, pad))
        return (*(np.stack(v) for v in finals), *(np.stack(v) for v in padded))
