"""Engines run ONNX models: onnxruntime (CUDA when it really works, else CPU) or the NumPy
interpreter. A Stepper keeps parameters and optimizer state between train steps."""

from __future__ import annotations

import glob
import math
import os
import sys
from collections.abc import Callable, Sequence
from contextlib import contextmanager

import numpy as np
import onnx

from nnc.compiler.graphs import NEXT  # the carried-tensor suffix, named once


class EngineError(Exception):
    pass


class Engine:
    name = "?"
    device = "cpu"
    why = ""

    def session(self, model: onnx.ModelProto) -> Callable[[Sequence[str] | None, dict], list]:
        raise NotImplementedError

    def stepper(self, model: onnx.ModelProto, carried: dict[str, np.ndarray]) -> Stepper:
        return Stepper(self.session(model), model, carried)

    def describe(self) -> str:
        return f"{self.name} on {self.device}" + (f" ({self.why})" if self.why else "")


class NumpyEngine(Engine):
    name = "numpy"

    def __init__(self, device: str = "cpu"):
        if device == "cuda":
            raise EngineError("the numpy engine runs on the CPU only; use --engine ort for CUDA")
        self.why = "the NumPy reference interpreter"

    def session(self, model):
        from nnc.runtime.interpreter import Interpreter

        interp = Interpreter(model)
        return lambda outputs, feeds: interp.run(outputs, feeds)


def _quiet_ort():
    import onnxruntime as ort

    ort.set_default_logger_severity(3)
    return ort


def cuda_status() -> tuple[bool, str]:
    """Whether a CUDA session can really be created here, and why not."""
    ort = _quiet_ort()
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        return False, f"this onnxruntime build ({ort.__version__}) has no CUDA execution provider"
    if not glob.glob("/dev/nvidia[0-9]*") and not os.environ.get("NNC_FORCE_CUDA_PROBE"):
        return False, "no NVIDIA GPU device found"
    with _silenced_stderr():
        try:
            if hasattr(ort, "preload_dlls"):
                ort.preload_dlls()  # finds CUDA/cuDNN installed as pip packages
        except Exception:  # noqa: BLE001 - a missing library is reported by the probe below
            pass
        return _probe_cuda(ort)


@contextmanager
def _silenced_stderr():
    """onnxruntime's C++ logs go to fd 2 directly; keep a failed probe to our one line."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _probe_cuda(ort) -> tuple[bool, str]:
    x = onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1])
    y = onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1])
    g = onnx.helper.make_graph([onnx.helper.make_node("Relu", ["x"], ["y"])], "probe", [x], [y])
    m = onnx.helper.make_model(g, opset_imports=[onnx.helper.make_opsetid("", 18)], ir_version=8)
    try:
        s = ort.InferenceSession(m.SerializeToString(), providers=["CUDAExecutionProvider"])
    except Exception as e:  # noqa: BLE001
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        return False, f"a CUDA session could not be created: {first[:200]}"
    if "CUDAExecutionProvider" not in s.get_providers():
        return False, "CUDA libraries (CUDA 12/13, cuDNN 9) or a GPU were not found"
    return True, "CUDA execution provider"


class OrtEngine(Engine):
    name = "ort"

    def __init__(self, device: str = "auto", threads: int | None = None):
        ort = _quiet_ort()
        self.ort = ort
        if device in ("auto", "cuda"):
            ok, why = cuda_status()
            if ok:
                self.device, self.why = "cuda", why
            elif device == "cuda":
                raise EngineError(f"--device cuda: {why}")
            else:
                self.device, self.why = "cpu", f"no CUDA: {why}"
        elif device == "cpu":
            self.device, self.why = "cpu", "as asked"
        else:
            raise EngineError(f"unknown device {device!r}; use auto, cpu or cuda")
        self.threads = threads

    def options(self):
        so = self.ort.SessionOptions()
        so.graph_optimization_level = self.ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # denormals in optimizer state slowed steps 3-5x in measurements; flush them
        so.add_session_config_entry("session.set_denormal_as_zero", "1")
        so.log_severity_level = 3
        if self.threads:
            so.intra_op_num_threads = self.threads
        elif os.environ.get("NNC_THREADS"):
            so.intra_op_num_threads = int(os.environ["NNC_THREADS"])
        return so

    def providers(self):
        if self.device == "cuda":
            return ["CUDAExecutionProvider", "CPUExecutionProvider"]
        return ["CPUExecutionProvider"]

    def inference_session(self, model):
        data = model if isinstance(model, (bytes, str)) else model.SerializeToString()
        return self.ort.InferenceSession(
            data, sess_options=self.options(), providers=self.providers()
        )

    def session(self, model):
        s = self.inference_session(model)
        return lambda outputs, feeds: s.run(outputs, feeds)

    def stepper(self, model, carried):
        return OrtStepper(self, model, carried)


def make_engine(engine: str = "ort", device: str = "auto") -> Engine:
    if engine == "ort":
        return OrtEngine(device)
    if engine == "numpy":
        return NumpyEngine(device)
    raise EngineError(f"unknown engine {engine!r}; use ort or numpy")


class Stepper:
    """Runs a train-step graph repeatedly, feeding each `X.next` output back as input `X`."""

    def __init__(self, run, model: onnx.ModelProto, carried: dict[str, np.ndarray]):
        self._run = run
        self.outputs = [o.name for o in model.graph.output]
        self.carried = {k: np.array(v) for k, v in carried.items()}
        self.reported = [o for o in self.outputs if not o.endswith(NEXT)]
        missing = [
            o[: -len(NEXT)]
            for o in self.outputs
            if o.endswith(NEXT) and o[: -len(NEXT)] not in carried
        ]
        if missing:
            raise EngineError(f"no initial value for carried tensors: {missing}")

    def batch_feeds(self, train, idx: np.ndarray) -> dict[str, np.ndarray]:
        """The inputs of one batch of the training split (a distributed stepper sends only
        `idx` to workers that hold the data)."""
        return {"x": train.x[idx], "y": train.y[idx]}

    def step(self, feeds: dict[str, np.ndarray]) -> dict[str, float]:
        outs = self._run(self.outputs, {**feeds, **self.carried})
        values = dict(zip(self.outputs, outs))
        report = {k: float(values[k]) for k in self.reported}
        if all(np.isfinite(v) for v in report.values()):
            for k, v in values.items():
                if k.endswith(NEXT):
                    self.carried[k[: -len(NEXT)]] = v
        return report

    def values(self) -> dict[str, np.ndarray]:
        return {k: np.array(v) for k, v in self.carried.items()}

    def load(self, values: dict[str, np.ndarray]) -> None:
        for k, v in values.items():
            if k in self.carried:
                self.carried[k] = np.array(v, dtype=self.carried[k].dtype)


class OrtStepper(Stepper):
    """Carried tensors live in OrtValues on the session's device; two sets are ping-ponged so a
    step reads one and writes the other, and only the scalar outputs come back to the host."""

    def __init__(self, engine: OrtEngine, model, carried):
        ort = engine.ort
        self.session = engine.inference_session(model)
        self.outputs = [o.name for o in model.graph.output]
        self.reported = [o for o in self.outputs if not o.endswith(NEXT)]
        self.device = "cuda" if engine.device == "cuda" else "cpu"
        self._ort = ort
        names = [o[: -len(NEXT)] for o in self.outputs if o.endswith(NEXT)]
        missing = [n for n in names if n not in carried]
        if missing:
            raise EngineError(f"no initial value for carried tensors: {missing}")
        self._names = names
        # inputs carried but never rewritten (frozen parameters): bound once, read every step
        inputs = {i.name for i in model.graph.input}
        self._fixed_names = [n for n in carried if n in inputs and n not in names]
        self._dtypes = {n: np.asarray(carried[n]).dtype for n in names + self._fixed_names}
        self._fixed = self._alloc(carried, self._fixed_names)
        self._sets = [self._alloc(carried), self._alloc(carried)]
        # scalar outputs land in fixed host buffers and scalar inputs (step, lr) are read from
        # fixed buffers, so a step allocates nothing for them (get_outputs() costs ~35 us)
        elem = {
            i.name: i.type.tensor_type for i in list(model.graph.input) + list(model.graph.output)
        }
        self._report_bufs = {
            o: np.zeros((), onnx.helper.tensor_dtype_to_np_dtype(elem[o].elem_type))
            for o in self.reported
        }
        self._scalar_bufs = {
            n: np.zeros((), onnx.helper.tensor_dtype_to_np_dtype(t.elem_type))
            for n, t in elem.items()
            if n in inputs and t.HasField("shape") and len(t.shape.dim) == 0 and n not in carried
        }
        self._cur = 0
        self._io: list = []  # the two IO bindings, set 0 -> 1 and set 1 -> 0
        self._staged: dict[str, np.ndarray] = {}  # host buffers bound as batch inputs
        self._bind()

    def _alloc(self, values, names=None):
        # a copy: a CPU OrtValue wraps the array's memory, and the two sets (and the caller's
        # arrays) must not share buffers, or a step writes into the tensors it is reading
        return {
            n: self._ort.OrtValue.ortvalue_from_numpy(
                np.array(values[n], copy=True), self.device, 0
            )
            for n in (self._names if names is None else names)
        }

    def _bind(self) -> None:
        # one binding per direction (set 0 -> set 1 and back), made once
        self._io = []
        self._staged = {}
        for cur in (0, 1):
            io = self.session.io_binding()
            for o in self.reported:
                buf = self._report_bufs[o]
                io.bind_output(o, "cpu", 0, buf.dtype, list(buf.shape), buf.ctypes.data)
            for n, buf in self._scalar_bufs.items():
                io.bind_input(n, "cpu", 0, buf.dtype, [], buf.ctypes.data)
            src, dst = self._sets[cur], self._sets[1 - cur]
            for n, v in self._fixed.items():
                io.bind_ortvalue_input(n, v)
            for n in self._names:
                io.bind_ortvalue_input(n, src[n])
                io.bind_ortvalue_output(n + NEXT, dst[n])
            self._io.append(io)

    def step(self, feeds):
        io = self._io[self._cur]
        scalars, staged = self._scalar_bufs, self._staged
        for k, v in feeds.items():
            if k in scalars:
                scalars[k][()] = v
                continue
            buf = staged.get(k)
            if buf is None or buf.shape != v.shape or buf.dtype != v.dtype:
                buf = self._stage(k, v)
            np.copyto(buf, v)
        self.session.run_with_iobinding(io)
        report = {k: float(b) for k, b in self._report_bufs.items()}
        if math.isfinite(sum(report.values())):
            self._cur = 1 - self._cur  # the written set becomes the current one
        return report

    def _stage(self, name: str, like: np.ndarray) -> np.ndarray:
        """A host buffer bound once as input `name` of both bindings: a step copies the batch
        into it instead of wrapping a new OrtValue (a few us per input per step)."""
        buf = np.empty(like.shape, like.dtype)
        for io in self._io:
            io.bind_input(name, "cpu", 0, buf.dtype, list(buf.shape), buf.ctypes.data)
        self._staged[name] = buf
        return buf

    def values(self):
        current = {**self._fixed, **self._sets[self._cur]}
        return {n: np.array(v.numpy()) for n, v in current.items()}

    def load(self, values):
        merged = self.values()
        merged.update(
            {k: np.asarray(v, dtype=self._dtypes[k]) for k, v in values.items() if k in merged}
        )
        self._fixed = self._alloc(merged, self._fixed_names)
        self._sets = [self._alloc(merged), self._alloc(merged)]
        self._cur = 0
        self._bind()
