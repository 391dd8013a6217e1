"""manifest.json: what a program in any language needs to drive the compiled graphs.

`nnc compile SPEC -o DIR` writes it next to the graphs; `nnc train` writes it into the run
directory (graphs under graphs/, model.onnx once training has finished); `nnc web` into the page's
folder. All write this format:

    {
      "format": "nnc-manifest", "version": 1,
      "spec": NAME, "spec_hash": HASH, "nnc_version": VERSION,
      "engine": "...",                 only in a run: the engine and device that trained it
      "recurrent": LOWERING,           only when not "native" (nnc compile --recurrent)
      "graphs": {KIND: {"file": PATH relative to the manifest,
                        "inputs": [{"name", "dtype", "shape"}], "outputs": [...],
                        "nodes": COUNT, "ops": [OP_TYPE, ...]}},
      "parameters": [{"name", "shape", "dtype", "role", "trainable", "state", "offset"}],
      "initial_values": {"file": PATH, "dtype", "byte_order": "little", "seed": N, ...},
      "carried": {"train_step": {OUTPUT: INPUT}},
      "optimizer": {"type": TYPE, "state": {INPUT: {"shape": [...], "dtype", "initial": "zeros"}}},
      "step_inputs": {"step": {"dtype", "shape": [], "initial": 0, "meaning"},
                      "lr": {"dtype", "shape": [], "value": LR, "meaning"}},
      "random_inputs": {INPUT: {"per_sample_shape": [...], "dtype", "low": 0.0, "high": 1.0,
                                "distribution": "uniform[0,1) per step", "meaning"}},
      "batch_inputs": {"x": {...}, "y": {...}},     what a mini-batch feeds, and its targets
      "results": {OUTPUT: MEANING},                 the train step's other outputs
      "training": {"batch_size", "epochs", "shuffle", "seed"},
      "batch_size": N,
      "steps_per_epoch": N,            only where the training set's size is known
      "preprocess": {...},             only where the data is known: what the train step's x is
      "data": {SPLIT: {"x": TENSOR, "y": TENSOR, "samples": N}}   only with the data written
    }

KIND is `model` (raw features -> `y`, and `label` for classifiers), and, when the spec has a loss,
`gradient` (inputs, targets, parameters -> `loss`, `metric.*`, `grad.<param>`), `train_step` and
`eval` (loss and metrics, batch norm and dropout in inference mode). A shape entry is a number, a
symbolic dimension (`N`: the batch) or null. TENSOR is {"file", "dtype", "shape", "offset"}: raw
little-endian values in C order from byte `offset` of `file` (a path relative to the manifest).

`parameters` are in the order of the graphs' inputs. `trainable` is false for frozen parameters;
`state` is true for running statistics (batch norm's mean and variance), which the train step
updates without a gradient. Their values at step 0 are in `initial_values.file`: raw
little-endian values of `dtype`, parameter after parameter in this order, each from its byte
`offset`. `carried` says which train-step output feeds which input at the next step (the output
is the input's name + ".next"): every parameter and every optimizer state tensor lives across
steps this way. The optimizer state inputs (moments, velocities; several small parameters may
share one flat `optimizer.fused.*` tensor) all start at zero. Random inputs (dropout) take fresh
samples of shape [N, *per_sample_shape] at every step.

A training loop in any language: load `initial_values` and zero optimizer state; for step k = 0,
1, ... feed a mini-batch (`batch_inputs`; N rows, the last batch of an epoch may be smaller),
`step` = k, `lr` = its `value`, every random input; run `train_step`, read `loss`, and feed every
`carried` output back as its input. The parameters then go into `model`'s initializers of the
same names (examples/train-in-node does all of this with onnxruntime-node).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from nnc.compiler import __version__
from nnc.compiler.graphs import NEXT, describe

if TYPE_CHECKING:
    import onnx

    from nnc.runtime.compiled import Compiled
    from nnc.runtime.data import Dataset

FORMAT = "nnc-manifest"
VERSION = 1
INITIAL = "initial.bin"  # the parameters at step 0, next to manifest.json (RunDir lists it too)
STEP_INPUTS = {
    "step": "int64 scalar: the number of train steps taken before this one (0 at the first); "
    "learning-rate schedules and bias corrections (Adam) read it",
    "lr": "float scalar: the base learning rate (optimizer.lr); a schedule in the graph scales "
    "it, and the rate it used is the output lr_used",
}
RANDOM_DISTRIBUTION = "uniform[0,1) per step"
RANDOM_MEANING = (
    "dropout: an element is kept (and scaled by 1/(1-rate)) where the sample is below 1-rate; "
    "draw new samples for every step"
)
RESULTS = {
    "loss": "float scalar: the mean loss over the batch, plus the regularization terms",
    "metric.": "float scalar: a metric of the batch, before the update",
    "grad_norm": "float scalar: the global L2 norm of the gradients, before clipping",
    "lr_used": "float scalar: the learning rate the schedule gave this step",
}


def parameter_layout(compiled: Compiled) -> list[tuple[str, tuple[int, ...], int]]:
    """(name, shape, byte offset in the initial-values file) of every parameter, in order."""
    itemsize = np.dtype(compiled.dtype).itemsize
    out, offset = [], 0
    for p in compiled.net.params:
        out.append((p.name, tuple(p.shape), offset))
        offset += int(np.prod(p.shape, dtype=np.int64)) * itemsize
    return out


def initial_values_bytes(compiled: Compiled, values: dict[str, np.ndarray]) -> bytes:
    """The contents of the initial-values file: every parameter, raw, in the manifest's order."""
    dtype = np.dtype(compiled.dtype).newbyteorder("<")
    layout = parameter_layout(compiled)
    return b"".join(np.ascontiguousarray(values[name], dtype).tobytes() for name, _, _ in layout)


def _dtype_name(dtype) -> str:
    return np.dtype(dtype).name


def build_manifest(
    compiled: Compiled,
    models: dict[str, onnx.ModelProto],
    files: dict[str, str],
    *,
    engine: str | None = None,
    data: dict | None = None,
    preprocess: dict | None = None,
) -> dict:
    """The manifest of `models` (by kind), stored at `files` (by kind, relative paths; "initial":
    the initial-values file, when written). `data`: the written data (by split), `preprocess`:
    how the data fed to the train step was made from raw features."""
    spec, net, graphs = compiled.spec, compiled.net, compiled.graphs
    dtype = _dtype_name(compiled.dtype)
    manifest: dict = {
        "format": FORMAT,
        "version": VERSION,
        "spec": spec.name,
        "spec_hash": spec.hash,
        "nnc_version": __version__,
    }
    if engine is not None:
        manifest["engine"] = engine
    if compiled.recurrent != "native":
        manifest["recurrent"] = compiled.recurrent
    manifest["graphs"] = {
        kind: {"file": files[kind], **describe(model)} for kind, model in models.items()
    }
    layout = {name: offset for name, _, offset in parameter_layout(compiled)}
    manifest["parameters"] = [
        {
            "name": p.name,
            "shape": list(p.shape),
            "dtype": dtype,
            "role": p.role,
            "trainable": p.trainable,
            "state": p.state,
            "offset": layout[p.name],
        }
        for p in net.params
    ]
    if "initial" in files:
        manifest["initial_values"] = {
            "file": files["initial"],
            "dtype": dtype,
            "byte_order": "little",
            "layout": "every parameter in the order of `parameters`, raw, C order, from its "
            "`offset`",
            "seed": int(spec.train["seed"]),
        }
    if graphs is not None:
        outputs = [o.name for o in graphs.train_step.graph.output]
        manifest["carried"] = {
            "train_step": {o: o[: -len(NEXT)] for o in outputs if o.endswith(NEXT)}
        }
        manifest["optimizer"] = {
            "type": spec.optimizer["type"],
            "state": {
                name: {"shape": list(shape), "dtype": dtype, "initial": "zeros"}
                for name, shape in graphs.state_shapes.items()
            },
        }
        manifest["step_inputs"] = {
            "step": {"dtype": "int64", "shape": [], "initial": 0, "meaning": STEP_INPUTS["step"]},
            "lr": {
                "dtype": dtype,
                "shape": [],
                "value": float(spec.optimizer["lr"]),
                "meaning": STEP_INPUTS["lr"],
            },
        }
        manifest["random_inputs"] = {
            name: {
                "per_sample_shape": list(shape),
                "dtype": dtype,
                "low": 0.0,
                "high": 1.0,
                "distribution": RANDOM_DISTRIBUTION,
                "meaning": RANDOM_MEANING,
            }
            for name, shape in graphs.random_inputs.items()
        }
        manifest["batch_inputs"] = _batch_inputs(compiled, dtype)
        manifest["results"] = {
            o: RESULTS["metric."] if o.startswith("metric.") else RESULTS[o]
            for o in outputs
            if not o.endswith(NEXT)
        }
        manifest["training"] = {
            "batch_size": compiled.batch_size,
            "epochs": int(spec.train["epochs"]),
            "shuffle": bool(spec.train["shuffle"]),
            "seed": int(spec.train["seed"]),
        }
    manifest["batch_size"] = compiled.batch_size
    if compiled.steps_per_epoch is not None:
        manifest["steps_per_epoch"] = compiled.steps_per_epoch
    if preprocess is not None:
        manifest["preprocess"] = preprocess
    if data is not None:
        manifest["data"] = data
    return manifest


def _batch_inputs(compiled: Compiled, dtype: str) -> dict:
    target = compiled.net.target()
    x = {
        "dtype": dtype,
        "shape": ["N", *compiled.spec.input_shape],
        "meaning": "features, preprocessed as in `preprocess` (the train step has no "
        "preprocessing; model.onnx of a run has it baked in)",
    }
    if target.kind == "class_index":
        y = {
            "dtype": "int64",
            "shape": ["N"],
            "meaning": f"class indices 0..{target.num_classes - 1}",
        }
    else:
        y = {
            "dtype": dtype,
            "shape": ["N", *target.output_shape],
            "meaning": {
                "binary": "0 or 1",
                "multilabel": "0 or 1 per label",
                "real": "real-valued targets",
            }[target.kind],
        }
    return {"x": x, "y": {**y, "kind": target.kind}}


def write_data(folder: Path, data: Dataset, prefix: str = "data") -> dict:
    """Every split of `data` as raw little-endian files under folder/prefix; -> the manifest's
    `data` section (paths relative to `folder`)."""
    from nnc.runtime.checkpoint import atomic_write_bytes

    (folder / prefix).mkdir(parents=True, exist_ok=True)
    out: dict = {}
    for part in ("train", "validation", "test"):
        split = getattr(data, part)
        if split is None:
            continue
        entry: dict = {"samples": len(split)}
        for key, value in (("x", split.x), ("y", split.y)):
            if value is None:
                continue
            arr = np.ascontiguousarray(value)
            arr = arr.astype(arr.dtype.newbyteorder("<"), copy=False)
            file = f"{prefix}/{part}.{key}.bin"
            atomic_write_bytes(folder / file, arr.tobytes())
            entry[key] = {
                "file": file,
                "dtype": arr.dtype.name,
                "shape": list(arr.shape),
                "offset": 0,
            }
        out[part] = entry
    return out


def preprocess_info(data: Dataset) -> dict:
    """How the data the train step sees was made from raw features (baked into model.onnx)."""
    info: dict = {"description": data.description}
    if data.preprocess is not None:
        info["affine"] = {
            "formula": "x * scale + shift, in float32, fitted on the training split",
            "scale": np.asarray(data.preprocess.scale).tolist(),
            "shift": np.asarray(data.preprocess.shift).tolist(),
        }
    if data.feature_shape is not None:
        info["feature_shape"] = list(data.feature_shape)
        info["reshape"] = "raw features of feature_shape, reshaped to the input shape per sample"
    if data.class_names:
        info["class_names"] = list(data.class_names)
    return info
