"""The training split on the device, K steps per session call: the GPU path.

`GatheringStepper` runs the K-step graph of compiler/multistep.py: the training split is bound
once as device tensors (`data.x`, `data.y`), and a call sends only the batch indices of its K
steps (and the dropout uniforms, where the spec has dropout); parameters and optimizer state
stay in device buffers between calls (ping-ponged like the one-step stepper's); the K per-step
losses and metrics come back together once per call, so the NaN guard still names the exact
step.

Not done: capturing the K-step call as a CUDA graph (onnxruntime's `enable_cuda_graph`). It
needs every input and output at a fixed device address, so the ping-ponged parameter sets would
need one captured graph per direction (`gpu_graph_id`) and the index tensor an in-place update;
without a GPU to run it on, that code would ship untested.

Measured on onnxruntime's CPU, the Loop costs what a session call costs per step (see the
multistep module), so the CPU path stays one call per step; this one is chosen for CUDA, or on
request (`train.steps_per_call`).
"""

from __future__ import annotations

import numpy as np
import onnx

from nnc.compiler.graphs import NEXT
from nnc.compiler.multistep import DATA_X, DATA_Y, INDICES, multi_step_model
from nnc.runtime.engines import EngineError, OrtEngine, Stepper


class GatheringStepper(Stepper):
    """The Stepper interface over the K-step graph, plus `steps_per_call` and `step_many`."""

    def __init__(
        self,
        engine: OrtEngine,
        train_step: onnx.ModelProto,
        random_inputs: dict,
        carried: dict[str, np.ndarray],
        train,
        steps_per_call: int,
    ) -> None:
        ort = engine.ort
        self._ort = ort
        self.device = "cuda" if engine.device == "cuda" else "cpu"
        self.steps_per_call = max(1, int(steps_per_call))
        model = multi_step_model(train_step, random_inputs)
        self.outputs = [o.name for o in model.graph.output]
        self.reported = [o for o in self.outputs if not o.endswith(NEXT)]
        self._names = [o[: -len(NEXT)] for o in self.outputs if o.endswith(NEXT)]
        missing = [n for n in self._names if n not in carried]
        if missing:
            raise EngineError(f"no initial value for carried tensors: {missing}")
        inputs = {i.name for i in model.graph.input}
        self._fixed_names = [n for n in carried if n in inputs and n not in self._names]
        self._dtypes = {n: np.asarray(carried[n]).dtype for n in [*self._names, *self._fixed_names]}
        self.session = engine.inference_session(model)
        # the training split, once, on the device
        self._data = {
            DATA_X: self._value(np.ascontiguousarray(train.x)),
            DATA_Y: self._value(np.ascontiguousarray(train.y)),
        }
        self._fixed = {n: self._value(np.array(carried[n])) for n in self._fixed_names}
        self._sets = [
            {n: self._value(np.array(carried[n])) for n in self._names},
            {n: self._value(np.array(carried[n])) for n in self._names},
        ]
        self._cur = 0

    def _value(self, array: np.ndarray):
        return self._ort.OrtValue.ortvalue_from_numpy(array, self.device, 0)

    # -- the Stepper interface -------------------------------------------------------------------
    def batch_feeds(self, train, idx: np.ndarray) -> dict[str, np.ndarray]:
        return {INDICES: np.asarray(idx, np.int64)}

    def step(self, feeds: dict[str, np.ndarray]) -> dict[str, float]:
        return self.step_many([feeds])[0]

    def step_many(self, feeds: list[dict[str, np.ndarray]]) -> list[dict[str, float]]:
        """K steps in one call (their batches of equal size): each step's report."""
        k = len(feeds)
        stacked = {INDICES: np.stack([f[INDICES] for f in feeds])}
        for name in feeds[0]:
            if name not in (INDICES, "step", "lr"):
                stacked[name] = np.stack([f[name] for f in feeds])
        session = self.session
        io = session.io_binding()
        src, dst = self._sets[self._cur], self._sets[1 - self._cur]
        for name, value in {**self._data, **self._fixed}.items():
            io.bind_ortvalue_input(name, value)
        for n in self._names:
            io.bind_ortvalue_input(n, src[n])
            io.bind_ortvalue_output(n + NEXT, dst[n])
        for name, array in stacked.items():
            io.bind_ortvalue_input(name, self._value(array))
        io.bind_cpu_input("step", np.asarray(feeds[0]["step"], np.int64))
        io.bind_cpu_input("lr", np.asarray(feeds[0]["lr"], np.float32))
        for o in self.reported:
            io.bind_output(o, "cpu")
        session.run_with_iobinding(io)
        got = io.get_outputs()[len(self._names) :]  # bound after the carried outputs
        values = {o: v.numpy() for o, v in zip(self.reported, got)}
        reports = [{o: float(values[o][j]) for o in self.reported} for j in range(k)]
        if all(np.isfinite(v) for r in reports for v in r.values()):
            self._cur = 1 - self._cur  # the written set becomes the current one
        return reports

    def values(self) -> dict[str, np.ndarray]:
        current = {**self._fixed, **self._sets[self._cur]}
        return {n: np.array(v.numpy()) for n, v in current.items()}

    def load(self, values: dict[str, np.ndarray]) -> None:
        merged = self.values()
        merged.update(
            {k: np.asarray(v, dtype=self._dtypes[k]) for k, v in values.items() if k in merged}
        )
        self._fixed = {n: self._value(np.array(merged[n])) for n in self._fixed_names}
        self._sets = [
            {n: self._value(np.array(merged[n])) for n in self._names},
            {n: self._value(np.array(merged[n])) for n in self._names},
        ]
        self._cur = 0
