"""One small adapter per ONNX runtime, behind one interface, for the conformance suite.

Every runner answers `available() -> (ok, why)`, `run(model, feeds, outputs) -> {name: array}` and
`train(model, initial, batches, steps) -> (losses, final)`. A train-step graph carries tensors
from step to step: every output `<name>.next` feeds input `<name>` at the next step. `initial`
holds every input that is not a batch feed (parameters, optimizer state, `lr`); step k feeds
`batches[k % len(batches)]` and, when the graph has one, the int64 input `step` = k.

The Python runtimes import lazily, so a missing one is a skip with a reason, never an import
error. The JavaScript runtimes (onnxruntime-node, onnxruntime-web on wasm) run in one node
process per call, driven through `ort_js.js`; their training loop runs inside node.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
import onnx

from nnc.compiler.graphs import NEXT

ROOT = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("NNC_CONFORMANCE_CACHE", ROOT / ".cache" / "conformance"))
JS_RUNNER = Path(__file__).with_name("ort_js.js")

Feeds = Mapping[str, np.ndarray]
Call = Callable[[Sequence[str], Feeds], dict[str, np.ndarray]]


def _contiguous(value) -> np.ndarray:
    """C-contiguous, keeping 0-d arrays 0-d (np.ascontiguousarray makes them 1-d)."""
    return np.require(np.asarray(value), requirements="C")


def as_model(model: onnx.ModelProto | str | os.PathLike) -> onnx.ModelProto:
    return model if isinstance(model, onnx.ModelProto) else onnx.load(os.fspath(model))


def graph_inputs(model: onnx.ModelProto) -> list[str]:
    inits = {i.name for i in model.graph.initializer}
    return [i.name for i in model.graph.input if i.name not in inits]


def carried_names(model: onnx.ModelProto) -> list[str]:
    return [o.name[: -len(NEXT)] for o in model.graph.output if o.name.endswith(NEXT)]


def step_feeds(model: onnx.ModelProto, batches: Sequence[Feeds], k: int) -> dict[str, np.ndarray]:
    """What step k feeds besides the carried tensors: its batch and, if asked for, `step`."""
    feeds = dict(batches[k % len(batches)])
    if "step" in graph_inputs(model) and "step" not in feeds:
        feeds["step"] = np.array(k, np.int64)
    return feeds


class Runner:
    """A runtime. Subclasses give `name`, `_check()` and `session()`; `train` loops over it."""

    name = ""
    version = ""
    # how the graphs this runtime runs spell recurrent layers (LowerCtx.recurrent): the default
    # native RNN/GRU/LSTM ops, or the cell unrolled for a runtime that has neither those ops
    # nor Scan
    recurrent = "native"

    def available(self) -> tuple[bool, str]:
        try:
            self._check()
        except Exception as e:  # noqa: BLE001 - any failure to load means "not installed here"
            return False, f"{self.name} unavailable: {type(e).__name__}: {e}"
        return True, self.version

    def _check(self) -> None:
        raise NotImplementedError

    def session(self, model: onnx.ModelProto) -> Call:
        """Load the model once; return `call(outputs, feeds) -> {name: array}`."""
        raise NotImplementedError

    def run(self, model, feeds: Feeds, outputs: Sequence[str] | None = None) -> dict:
        model = as_model(model)
        names = list(outputs) if outputs else [o.name for o in model.graph.output]
        return self.session(model)(names, feeds)

    def train(
        self, model, initial: Feeds, batches: Sequence[Feeds], steps: int
    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        model = as_model(model)
        call = self.session(model)
        names = [o.name for o in model.graph.output]
        carried = carried_names(model)
        state = {k: np.asarray(v) for k, v in initial.items()}
        losses = []
        for k in range(steps):
            out = call(names, {**state, **step_feeds(model, batches, k)})
            losses.append(float(out["loss"]))
            for n in carried:
                state[n] = out[n + NEXT]
        return np.array(losses), {n: state[n] for n in carried}


def _version(dist: str) -> str:
    return f"{dist} {importlib.metadata.version(dist)}"


class OnnxRuntime(Runner):
    """onnxruntime (Python), CPU execution provider: the reference."""

    name = "onnxruntime"

    def _check(self):
        ort = importlib.import_module("onnxruntime")
        self.version = f"onnxruntime {ort.__version__}"

    def session(self, model):
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        sess = ort.InferenceSession(
            model.SerializeToString(), opts, providers=["CPUExecutionProvider"]
        )

        def call(outputs, feeds):
            return dict(zip(outputs, sess.run(list(outputs), dict(feeds))))

        return call


class OnnxReference(Runner):
    """`onnx.reference.ReferenceEvaluator`: ONNX's own Python implementation of the spec."""

    name = "onnx-reference"

    def _check(self):
        importlib.import_module("onnx.reference")
        self.version = f"onnx {onnx.__version__}"

    def session(self, model):
        from onnx.reference import ReferenceEvaluator

        ev = ReferenceEvaluator(model)

        def call(outputs, feeds):
            return dict(zip(outputs, ev.run(list(outputs), dict(feeds))))

        return call


class NncInterpreter(Runner):
    """nnc's NumPy interpreter, the project's oracle."""

    name = "nnc-interpreter"

    def _check(self):
        importlib.import_module("nnc.runtime.interpreter")
        self.version = _version("nnc")

    def session(self, model):
        from nnc.runtime.interpreter import Interpreter

        interp = Interpreter(model)

        def call(outputs, feeds):
            return dict(zip(outputs, interp.run(list(outputs), dict(feeds))))

        return call


def _write_model(model: onnx.ModelProto, folder: str) -> str:
    path = os.path.join(folder, "model.onnx")
    onnx.save(model, path)
    return path


class OpenVino(Runner):
    """OpenVINO on the CPU, with inference precision pinned to f32 (no silent bf16/f16)."""

    name = "openvino"

    def _check(self):
        ov = importlib.import_module("openvino")
        ov.Core().available_devices  # noqa: B018 - loads the CPU plugin
        self.version = _version("openvino")

    def session(self, model):
        import openvino as ov

        core = ov.Core()
        with tempfile.TemporaryDirectory() as tmp:
            ov_model = core.read_model(_write_model(model, tmp))
        compiled = core.compile_model(ov_model, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
        precision = compiled.get_property("INFERENCE_PRECISION_HINT")
        if precision != ov.Type.f32:
            raise RuntimeError(f"OpenVINO compiled at precision {precision}, not f32")
        request = compiled.create_infer_request()
        ports = {name: out for out in compiled.outputs for name in out.get_names()}
        inputs = {name for inp in compiled.inputs for name in inp.get_names()}

        def call(outputs, feeds):
            # OpenVINO drops graph inputs that no output depends on; feeding one is an error
            request.infer({k: v for k, v in feeds.items() if k in inputs})
            return {n: np.array(request.get_tensor(ports[n]).data) for n in outputs}

        return call


class Tract(Runner):
    """Sonos' tract through its Python bindings; input facts fixed to the shapes fed."""

    name = "tract"

    def _check(self):
        tract = importlib.import_module("tract")
        self.version = f"tract {tract.version()}"

    def session(self, model):
        import tract

        data = model.SerializeToString()
        inputs = graph_inputs(model)
        # tract names its outputs after the producing nodes; their order is the graph's
        names = [o.name for o in model.graph.output]
        runnables: dict[tuple, tuple] = {}

        def build(feeds):
            with tempfile.TemporaryDirectory() as tmp:
                path = os.path.join(tmp, "model.onnx")
                Path(path).write_bytes(data)
                m = tract.onnx().load(path)
            order = [m.input_name(i) for i in range(m.input_count())]
            for i, name in enumerate(order):
                v = np.asarray(feeds[name])
                m.set_input_fact(i, ",".join([*(str(d) for d in v.shape), _tract_dtype(v.dtype)]))
            return m.into_model().into_runnable(), order

        def call(outputs, feeds):
            key = tuple((n, np.shape(feeds[n]), np.asarray(feeds[n]).dtype.str) for n in inputs)
            if key not in runnables:
                runnables[key] = build(feeds)
            runnable, order = runnables[key]
            got = dict(zip(names, runnable.run([_contiguous(feeds[n]) for n in order])))
            return {n: np.array(got[n].to_numpy()) for n in outputs}

        return call


def _tract_dtype(dtype) -> str:
    return {"float32": "f32", "float64": "f64", "int64": "i64", "int32": "i32", "bool": "bool"}[
        np.dtype(dtype).name
    ]


class Tinygrad(Runner):
    """tinygrad's ONNX frontend (`tinygrad.nn.onnx.OnnxRunner`) on its CPU device (clang). The
    training loop runs under `TinyJit`: the graph is scheduled once, not at every step."""

    name = "tinygrad"
    recurrent = "unrolled"  # tinygrad 0.14.0 implements neither RNN/GRU/LSTM nor Scan

    def _check(self):
        os.environ.setdefault("DEV", "CPU")
        importlib.import_module("tinygrad.nn.onnx")
        if not shutil.which("clang"):
            raise RuntimeError("clang is not installed (tinygrad's CPU backend compiles with it)")
        self.version = _version("tinygrad")

    @staticmethod
    def _runner(model):
        os.environ.setdefault("DEV", "CPU")
        from tinygrad.nn.onnx import OnnxRunner

        with tempfile.TemporaryDirectory() as tmp:
            runner = OnnxRunner(_write_model(model, tmp))
        produced = [o for node in runner.graph_nodes for o in node.outputs]

        def run(feeds):
            for o in produced:  # forget the last run's values, to tell which node failed
                runner.graph_values.pop(o, None)
            try:
                return runner(feeds)
            except Exception as e:
                node = next(
                    (n for n in runner.graph_nodes if n.outputs[0] not in runner.graph_values), None
                )
                where = f"node with output {node.outputs[0]!r} ({node.op})" if node else "?"
                raise RuntimeError(f"tinygrad failed at {where}: {type(e).__name__}: {e}") from e

        return run

    def session(self, model):
        run = self._runner(model)

        def call(outputs, feeds):
            got = run({k: _contiguous(v) for k, v in feeds.items()})
            return {n: _tinygrad_numpy(got[n]) for n in outputs}

        return call

    def train(self, model, initial, batches, steps):
        from tinygrad import Tensor, TinyJit

        model = as_model(model)
        run = self._runner(model)
        names = [o.name for o in model.graph.output]
        jit = TinyJit(lambda **feeds: {k: v.realize() for k, v in run(feeds).items()})
        carried = carried_names(model)
        state = {k: np.asarray(v) for k, v in initial.items()}
        losses = []
        for k in range(steps):
            feeds = {**state, **step_feeds(model, batches, k)}
            # the JIT takes real buffers only: a 0-d Tensor from numpy is a const until cloned
            out = jit(**{n: Tensor(_contiguous(v)).clone().realize() for n, v in feeds.items()})
            out = {n: _tinygrad_numpy(out[n]) for n in names}  # copies: the JIT reuses buffers
            losses.append(float(out["loss"]))
            for n in carried:
                state[n] = out[n + NEXT]
        return np.array(losses), {n: state[n] for n in carried}


def _tinygrad_numpy(value) -> np.ndarray:
    return np.array(value.numpy()) if hasattr(value, "numpy") else np.array(value)


# -- JavaScript runtimes --------------------------------------------------------------------------

NODE_MODULES = CACHE / "node" / "node_modules"


def _save(folder: Path, name: str, value) -> dict:
    arr = _contiguous(value)
    dtype = "bool" if arr.dtype == np.bool_ else arr.dtype.name
    file = f"t{len(os.listdir(folder))}.bin"
    (folder / file).write_bytes(arr.tobytes())
    return {"file": file, "dtype": dtype, "shape": list(arr.shape)}


def _load(folder: Path, ref: dict) -> np.ndarray:
    dtype = np.bool_ if ref["dtype"] == "bool" else np.dtype(ref["dtype"])
    return np.frombuffer((folder / ref["file"]).read_bytes(), dtype).reshape(ref["shape"]).copy()


class OrtJs(Runner):
    """onnxruntime-node (`backend="node"`, CPU) or onnxruntime-web (`"web"`, wasm) under node."""

    def __init__(self, backend: str):
        self.backend = backend
        self.package = f"onnxruntime-{backend}"
        self.name = self.package

    def _check(self):
        node = shutil.which("node")
        if not node:
            raise RuntimeError("node is not installed")
        pkg = NODE_MODULES / self.package / "package.json"
        if not pkg.exists():
            raise RuntimeError(f"{pkg} is missing: run scripts/conformance/install.sh")
        self.version = f"{self.package} {json.loads(pkg.read_text())['version']}"

    def _invoke(self, model: onnx.ModelProto, request: dict, fill) -> tuple[dict, Path]:
        folder = Path(tempfile.mkdtemp(prefix="nnc-ortjs-"))
        onnx.save(model, folder / "model.onnx")
        fill(folder, request)
        (folder / "request.json").write_text(json.dumps(request))
        env = {**os.environ, "NODE_PATH": str(NODE_MODULES)}
        proc = subprocess.run(
            ["node", str(JS_RUNNER), self.backend, str(folder)],
            env=env,
            capture_output=True,
            text=True,
            timeout=float(os.environ.get("NNC_CONFORMANCE_JS_TIMEOUT", 1200)),
        )
        if proc.returncode != 0:
            shutil.rmtree(folder, ignore_errors=True)
            lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
            raise RuntimeError(
                f"{self.name}: " + ("\n".join(lines[-6:]) or f"exit {proc.returncode}")
            )
        return json.loads((folder / "result.json").read_text()), folder

    def run(self, model, feeds, outputs=None):
        model = as_model(model)
        names = list(outputs) if outputs else [o.name for o in model.graph.output]

        def fill(folder, req):
            req["feeds"] = {k: _save(folder, k, v) for k, v in feeds.items()}

        result, folder = self._invoke(model, {"mode": "run", "outputs": names}, fill)
        try:
            return {n: _load(folder, result["outputs"][n]) for n in names}
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def train(self, model, initial, batches, steps):
        model = as_model(model)
        carried = carried_names(model)
        needs_step = "step" in graph_inputs(model)

        def fill(folder, req):
            req["constants"] = {k: _save(folder, k, v) for k, v in initial.items()}
            req["batches"] = [{k: _save(folder, k, v) for k, v in b.items()} for b in batches]

        request = {
            "mode": "train",
            "outputs": [o.name for o in model.graph.output],
            "carried": carried,
            "steps": steps,
            "step_input": "step" if needs_step else None,
        }
        result, folder = self._invoke(model, request, fill)
        try:
            final = {n: _load(folder, result["outputs"][n + NEXT]) for n in carried}
            return np.array(result["losses"], dtype=np.float64), final
        finally:
            shutil.rmtree(folder, ignore_errors=True)


def all_runners() -> list[Runner]:
    return [
        OnnxRuntime(),
        OnnxReference(),
        NncInterpreter(),
        OpenVino(),
        Tract(),
        Tinygrad(),
        OrtJs("node"),
        OrtJs("web"),
    ]


RUNNERS = {r.name: r for r in all_runners()}
REFERENCE = "onnxruntime"
