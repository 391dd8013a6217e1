"""manifest.json: what a program in any language needs to drive the compiled graphs.

`nnc compile SPEC -o DIR` writes it next to the graphs; `nnc train` writes it into the run
directory (graphs under graphs/, model.onnx once training has finished). Both write this format:

    {
      "format": "nnc-manifest", "version": 1,
      "spec": NAME, "spec_hash": HASH, "nnc_version": VERSION,
      "engine": "...",                 only in a run: the engine and device that trained it
      "graphs": {KIND: {"file": PATH relative to the manifest,
                        "inputs": [{"name", "dtype", "shape"}], "outputs": [...],
                        "nodes": COUNT, "ops": [OP_TYPE, ...]}},
      "parameters": [{"name", "shape", "role", "trainable", "state"}],
      "carried": {"train_step": {OUTPUT: INPUT}},
      "optimizer": {"type": TYPE, "state": {INPUT: {"shape": [...], "initial": "zeros"}}},
      "step_inputs": {"step": MEANING, "lr": MEANING},
      "random_inputs": {INPUT: {"per_sample_shape": [...],
                                "distribution": "uniform[0,1) per step"}},
      "batch_size": N,
      "steps_per_epoch": N             only where the training set's size is known (a run)
    }

KIND is `model` (raw features -> `y`, and `label` for classifiers), and, when the spec has a loss,
`gradient` (inputs, targets, parameters -> `loss`, `metric.*`, `grad.<param>`), `train_step` and
`eval` (loss and metrics, batch norm and dropout in inference mode). A shape entry is a number, a
symbolic dimension (`N`: the batch) or null.

`parameters` are in the order of the graphs' inputs. `trainable` is false for frozen parameters;
`state` is true for running statistics (batch norm's mean and variance), which the train step
updates without a gradient. `carried` says which train-step output feeds which input at the next
step (the output is the input's name + ".next"): every parameter and every optimizer state tensor
lives across steps this way. The optimizer state inputs (moments, velocities; several small
parameters may share one flat `optimizer.fused.*` tensor) all start at zero. Random inputs
(dropout masks) take fresh samples of shape [N, *per_sample_shape] at every step.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from nnc.compiler import __version__
from nnc.compiler.graphs import NEXT, describe

if TYPE_CHECKING:
    import onnx

    from nnc.runtime.compiled import Compiled

FORMAT = "nnc-manifest"
VERSION = 1
STEP_INPUTS = {
    "step": "int64 scalar: the number of train steps taken before this one (0 at the first); "
    "learning-rate schedules and bias corrections (Adam) read it",
    "lr": "float scalar: the base learning rate (optimizer.lr); a schedule in the graph scales "
    "it, and the rate it used is the output lr_used",
}
RANDOM_DISTRIBUTION = "uniform[0,1) per step"


def build_manifest(
    compiled: Compiled,
    models: dict[str, onnx.ModelProto],
    files: dict[str, str],
    *,
    engine: str | None = None,
) -> dict:
    """The manifest of `models` (by kind), stored at `files` (by kind, relative paths)."""
    spec, net, graphs = compiled.spec, compiled.net, compiled.graphs
    manifest: dict = {
        "format": FORMAT,
        "version": VERSION,
        "spec": spec.name,
        "spec_hash": spec.hash,
        "nnc_version": __version__,
    }
    if engine is not None:
        manifest["engine"] = engine
    manifest["graphs"] = {
        kind: {"file": files[kind], **describe(model)} for kind, model in models.items()
    }
    manifest["parameters"] = [
        {
            "name": p.name,
            "shape": list(p.shape),
            "role": p.role,
            "trainable": p.trainable,
            "state": p.state,
        }
        for p in net.params
    ]
    if graphs is not None:
        outputs = [o.name for o in graphs.train_step.graph.output]
        manifest["carried"] = {
            "train_step": {o: o[: -len(NEXT)] for o in outputs if o.endswith(NEXT)}
        }
        manifest["optimizer"] = {
            "type": spec.optimizer["type"],
            "state": {
                name: {"shape": list(shape), "initial": "zeros"}
                for name, shape in graphs.state_shapes.items()
            },
        }
        manifest["step_inputs"] = dict(STEP_INPUTS)
        manifest["random_inputs"] = {
            name: {"per_sample_shape": list(shape), "distribution": RANDOM_DISTRIBUTION}
            for name, shape in graphs.random_inputs.items()
        }
    manifest["batch_size"] = compiled.batch_size
    if compiled.steps_per_epoch is not None:
        manifest["steps_per_epoch"] = compiled.steps_per_epoch
    return manifest
