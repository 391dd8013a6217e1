"""One spec compiled into everything a command needs: the network, its graphs, the manifest.

`compile_spec` is the one way in: `nnc validate`, `summary`, `compile`, `predict`, `train`,
`eval`, `export`, `bench` and `gradcheck` all start from it. The network (shapes, parameters) is
built at once; the training graphs only when first asked for.
"""

from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from nnc.compiler.network import Network
from nnc.compiler.optim import DEFAULT_OPTIMIZER
from nnc.compiler.spec.errors import Diagnostic, SpecError
from nnc.compiler.spec.model import Spec, load_spec, spec_from_document, thaw
from nnc.runtime.data import Dataset, Fitted, TargetSpec, load_data
from nnc.runtime.errors import RunError

if TYPE_CHECKING:  # graphs and onnx are imported when a graph is built: validate needs neither
    import onnx

    from nnc.compiler.graphs import TrainingGraphs


class Compiled:
    """A spec's network and graphs. steps_per_epoch is None when the training set's size is not
    known (nnc compile): epoch-based schedules are then built with one step an epoch.
    `recurrent` spells recurrent layers in every graph (nnc.compiler.layers.LowerCtx)."""

    def __init__(
        self,
        net: Network,
        *,
        n_train: int | None = None,
        dtype=np.float32,
        recurrent: str = "native",
    ):
        self.spec: Spec = net.spec
        self.net = net
        self.dtype = dtype
        self.recurrent = recurrent
        batch = int(self.spec.train["batch_size"])
        self.batch_size = min(batch, n_train) if n_train else batch
        self.steps_per_epoch = math.ceil(n_train / self.batch_size) if n_train else None
        self._graphs: TrainingGraphs | None = None

    @property
    def trainable(self) -> bool:
        """Whether the spec has a loss, so that there are training graphs."""
        return self.spec.loss is not None

    @property
    def graphs(self) -> TrainingGraphs | None:
        """The gradient, train-step and eval graphs (None without a loss), built on first use."""
        if self._graphs is None and self.trainable:
            from nnc.compiler.graphs import training_graphs

            self._graphs = training_graphs(
                self.net, self.dtype, self.steps_per_epoch or 1, self.recurrent
            )
        return self._graphs

    def initial_values(self) -> dict[str, np.ndarray]:
        """The parameters at the start of training (seeded by train.seed, or as the spec sets)."""
        return self.net.initial_values(int(self.spec.train["seed"]), self.dtype)

    def export(
        self,
        values: dict[str, np.ndarray] | None = None,
        data: Dataset | Fitted | None = None,
        opset: int | None = None,
    ) -> onnx.ModelProto:
        """The inference graph with `values` (default: the initial ones) as initializers, the
        data's fitted preprocessing baked in and its class names in the metadata."""
        from nnc.compiler.graphs import Preprocess, inference_model

        if values is None:
            values = self.initial_values()
        else:
            from nnc.runtime.nanguard import check_finite

            params = {p.name: values[p.name] for p in self.net.params if p.name in values}
            check_finite(params, "the exported model")
        pre = names = None
        if data is not None:
            affine = data.preprocess
            reshaped = data.feature_shape is not None
            if affine is not None or reshaped:
                pre = Preprocess(
                    affine.scale if affine else None,
                    affine.shift if affine else None,
                    data.feature_shape,
                )
            names = data.class_names
        model = inference_model(self.net, values, np.float32, pre, names, self.recurrent)
        if opset is not None and opset != model.opset_import[0].version:
            from onnx import version_converter

            model = version_converter.convert_version(model, opset)
        return model

    def models(self, model: onnx.ModelProto | None = None) -> dict[str, onnx.ModelProto]:
        """Every graph by kind: model (the inference graph, default: initial values), and
        gradient, train_step and eval when the spec has a loss."""
        out = {"model": model if model is not None else self.export()}
        if self.graphs is not None:
            out.update(self.graphs.models())
        return out

    def manifest(self, models: dict[str, onnx.ModelProto], files: dict[str, str], **extra) -> dict:
        """manifest.json for these graphs stored at these files (see nnc.runtime.manifest;
        `extra`: engine, data, preprocess)."""
        from nnc.runtime.manifest import build_manifest

        return build_manifest(self, models, files, **extra)


def compile_spec(
    spec: Spec, *, n_train: int | None = None, dtype=np.float32, recurrent: str = "native"
) -> Compiled:
    """The spec's network (shape-checked now) and its graphs (built when first used)."""
    return Compiled(Network(spec), n_train=n_train, dtype=dtype, recurrent=recurrent)


def compile_with_data(
    spec: Spec, dtype=np.float32, fitted: Fitted | None = None, recurrent: str = "native"
) -> tuple[Compiled, Dataset]:
    """The spec compiled for its data: batch size and steps per epoch from the training set;
    `fitted`: a run's own preprocessing, applied rather than refitted."""
    net = Network(spec)
    data = load_dataset(spec, net, fitted)
    return Compiled(net, n_train=len(data.train), dtype=dtype, recurrent=recurrent), data


def load_spec_file(path: str | Path, overrides: dict | None = None) -> Spec:
    """A spec file with command-line overrides applied."""
    spec = load_spec(path)
    return apply_overrides(spec, overrides) if overrides else spec


def apply_overrides(spec: Spec, overrides: dict) -> Spec:
    """Command-line overrides (train.epochs=5, optimizer.lr=0.1) validated like the file; an
    override that breaks a rule is reported as the command line's, not as the file's line."""
    doc = copy.deepcopy(thaw(spec.document))
    for dotted, value in overrides.items():
        keys = dotted.split(".")
        if keys[0] == "optimizer" and doc.get("optimizer") is None:
            doc["optimizer"] = {"type": DEFAULT_OPTIMIZER}  # what the spec trains with
        cur = doc
        for k in keys[:-1]:
            if not isinstance(cur.get(k), dict):
                cur[k] = {}
            cur = cur[k]
        cur[keys[-1]] = value
    try:
        return spec_from_document(doc, spec.source, spec.filename, spec.base_dir)
    except SpecError as e:
        given = set(overrides)
        raise SpecError(
            [
                Diagnostic(d.file, None, None, d.path, f"{d.message} (given on the command line)")
                if d.path in given
                else d
                for d in e.diagnostics
            ]
        ) from None


def target_spec(net: Network) -> TargetSpec:
    t = net.target()
    return TargetSpec(t.kind, t.num_classes, t.output_shape, t.signed)


def load_dataset(spec: Spec, net: Network, fitted: Fitted | None = None) -> Dataset:
    """The data the spec's data: section names, read, split and preprocessed."""
    if spec.data is None:
        raise RunError(f"{spec.filename}: the spec has no data: section to train on")
    return load_data(
        thaw(spec.data),
        input_shape=spec.input_shape,
        target=target_spec(net),
        base_dir=Path(spec.base_dir),
        fitted=fitted,
    )
